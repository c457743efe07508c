"""The reconciler runs every 5 minutes; the verifier, processor reconciliation and the
anchoring of audit chain heads hourly."""

from __future__ import annotations

import pytest

from tests.infra.conftest import Synthesized, arn_of


@pytest.mark.parametrize(
    ("function", "expression", "max_age_seconds"),
    [
        ("Reconciler", "rate(5 minutes)", 300),
        ("Verifier", "rate(1 hour)", 3600),
        ("ProcessorReconciler", "rate(1 hour)", 3600),
        ("Anchor", "rate(1 hour)", 3600),
    ],
)
def test_function_runs_on_schedule(
    synthesized: Synthesized, function: str, expression: str, max_age_seconds: int
) -> None:
    target_arn = arn_of(synthesized.logical_id(f"Functions/{function}/Function/Resource"))
    rules = [
        rule["Properties"]
        for rule in synthesized.of_type("AWS::Events::Rule").values()
        if rule["Properties"]["Targets"][0]["Arn"] == target_arn
    ]

    assert len(rules) == 1
    assert rules[0]["ScheduleExpression"] == expression
    assert rules[0]["State"] == "ENABLED"
    assert rules[0]["Targets"][0]["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": max_age_seconds,
        "MaximumRetryAttempts": 2,
    }


def test_only_the_four_schedules(synthesized: Synthesized) -> None:
    assert len(synthesized.of_type("AWS::Events::Rule")) == 4
