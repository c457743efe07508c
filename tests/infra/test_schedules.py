"""The reconciler runs every 5 minutes; processor reconciliation hourly; the verification
sweep every 30 minutes (each run takes the day's sweep further)."""

from __future__ import annotations

import json

import pytest

from refund_service.service.verification import SWEEP_GROUPS
from tests.infra.conftest import Synthesized, arn_of


@pytest.mark.parametrize(
    ("function", "expression", "max_age_seconds"),
    [
        ("Reconciler", "rate(5 minutes)", 300),
        ("ProcessorReconciler", "rate(1 hour)", 3600),
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


def test_the_sweep_runs_every_group_of_segments_every_30_minutes(
    synthesized: Synthesized,
) -> None:
    target_arn = arn_of(synthesized.logical_id("Functions/Verifier/Function/Resource"))
    rules = [
        rule["Properties"]
        for rule in synthesized.of_type("AWS::Events::Rule").values()
        if rule["Properties"]["Targets"][0]["Arn"] == target_arn
    ]

    assert sorted(json.loads(rule["Targets"][0]["Input"])["group"] for rule in rules) == list(
        range(SWEEP_GROUPS)
    )
    for rule in rules:
        assert rule["ScheduleExpression"] == "rate(30 minutes)"
        assert rule["Targets"][0]["RetryPolicy"] == {
            "MaximumEventAgeInSeconds": 1800,
            "MaximumRetryAttempts": 2,
        }


def test_only_these_schedules(synthesized: Synthesized) -> None:
    assert len(synthesized.of_type("AWS::Events::Rule")) == 2 + SWEEP_GROUPS
