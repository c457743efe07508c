"""cdk-nag's AwsSolutions checks pass: nothing unacknowledged, every acknowledgement explained.

A failed check reports at synth; this test is what makes it fail the build as well.
"""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesized

MIN_REASON_WORDS = 8


def _aws_solutions(synthesized: Synthesized) -> dict[str, Any]:
    reports = synthesized.validation_report["pluginReports"]
    report: dict[str, Any] = next(r for r in reports if r["pluginName"] == "AwsSolutions")
    return report


def test_aws_solutions_checks_ran(synthesized: Synthesized) -> None:
    report = _aws_solutions(synthesized)

    assert report["conclusion"] == "success"


def test_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    findings = [
        (violation["ruleName"], construct["constructPath"])
        for report in synthesized.validation_report["pluginReports"]
        for violation in report.get("violations", [])
        for construct in violation["violatingConstructs"]
    ]

    assert findings == []
    assert synthesized.synth_error is None


def test_every_acknowledgement_names_its_finding_and_explains_it(
    synthesized: Synthesized,
) -> None:
    acknowledged = _aws_solutions(synthesized)["suppressedViolations"]

    assert acknowledged, "expected the few known acknowledgements"
    for finding in acknowledged:
        assert finding["acknowledgedId"] == f"AwsSolutions::{finding['ruleName']}"
        assert len(finding["reason"].split()) >= MIN_REASON_WORDS, finding["acknowledgedId"]


def test_acknowledged_findings_are_the_known_few(synthesized: Synthesized) -> None:
    rules = sorted({f["ruleName"] for f in _aws_solutions(synthesized)["suppressedViolations"]})

    assert rules == [
        "AwsSolutions-APIG4",
        "AwsSolutions-COG8",
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Resource::<AnchorsBucketE0A93AD3.Arn>/anchors/*]",
        "AwsSolutions-S1",
        "AwsSolutions-SMG4",
        "AwsSolutions-SQS3",  # the change stream's on-failure queue is itself the last stop
    ]
