"""Alarms on what operators act on, all to one encrypted topic, and the dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from refund_service import observability_names as names
from tests.infra.conftest import ALARM_EMAIL, Synthesized, ref

FUNCTIONS = (
    "Api",
    "Webhooks",
    "Reconciler",
    "Verifier",
    "ProcessorReconciler",
    "FxRates",
    "StreamPublisher",
    "Anchor",
)
PREFIX = "refund-service-dev-"


def _alarms(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        alarm["Properties"]["AlarmName"].removeprefix(PREFIX): alarm["Properties"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
    }


def _custom_metric(alarm: dict[str, Any]) -> dict[str, Any]:
    assert alarm["Namespace"] == names.METRICS_NAMESPACE
    assert alarm["Dimensions"] == [{"Name": "service", "Value": names.SERVICE_NAME}]
    return alarm


def _expression_metrics(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["Id"]: m for m in alarm["Metrics"] if "MetricStat" in m}


def test_topic_is_encrypted_and_refuses_plain_http(synthesized: Synthesized) -> None:
    (topic,) = synthesized.of_type("AWS::SNS::Topic").values()
    (policy,) = synthesized.of_type("AWS::SNS::TopicPolicy").values()
    operations_key = synthesized.logical_id("Keys/Operations/Resource")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]

    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [operations_key, "Arn"]}
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    assert any(
        s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        for s in statements
    )


def test_configured_email_is_subscribed(synthesized: Synthesized) -> None:
    synthesized.assertions.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": ALARM_EMAIL}
    )


def test_every_alarm_notifies_the_topic(synthesized: Synthesized) -> None:
    topic = ref(synthesized.logical_id("Monitoring/AlarmTopic/Resource"))

    for name, alarm in _alarms(synthesized).items():
        assert alarm["AlarmActions"] == [topic], name


def test_the_expected_alarms_exist(synthesized: Synthesized) -> None:
    expected = {
        "Api5xxRate",
        "ApiLatencyP99",
        "ProcessorFailureRate",
        "StalePendingRefunds",
        "LedgerMismatch",
        "RefundOutcomeConflict",
        "UnmatchedDisputes",
        "OverRefunded",
        "ProcessorMismatch",
        "RefundCountAnomaly",
        "RefundAmountAnomaly",
        "ReconcilerDeadLetters",
        "VerifierDeadLetters",
        "ProcessorReconcilerDeadLetters",
        "FxRatesDeadLetters",
        "FxRatesStale",
        "StreamIteratorAge",
        "StreamFailedDeliveries",
        "AnchorDeadLetters",
        *(f"{function}{kind}" for function in FUNCTIONS for kind in ("Errors", "Throttles")),
    }

    assert set(_alarms(synthesized)) == expected


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_errors_and_throttles(synthesized: Synthesized, function: str) -> None:
    alarms = _alarms(synthesized)
    function_id = synthesized.logical_id(f"Functions/{function}/Function/Resource")

    for metric in ("Errors", "Throttles"):
        alarm = alarms[f"{function}{metric}"]
        assert alarm["Namespace"] == "AWS/Lambda"
        assert alarm["MetricName"] == metric
        assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": ref(function_id)}]
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["Threshold"] == 1


def test_api_5xx_rate_is_errors_over_requests(synthesized: Synthesized) -> None:
    alarm = _alarms(synthesized)["Api5xxRate"]
    metrics = _expression_metrics(alarm)

    expression = next(m for m in alarm["Metrics"] if "Expression" in m)
    assert expression["Expression"] == "IF(requests > 0, 100 * errors / requests, 0)"
    assert metrics["errors"]["MetricStat"]["Metric"]["MetricName"] == "5xx"
    assert metrics["requests"]["MetricStat"]["Metric"]["MetricName"] == "Count"
    assert alarm["Threshold"] == 1


def test_api_p99_latency(synthesized: Synthesized) -> None:
    alarm = _alarms(synthesized)["ApiLatencyP99"]

    assert alarm["Namespace"] == "AWS/ApiGateway"
    assert alarm["MetricName"] == "Latency"
    assert alarm["ExtendedStatistic"] == "p99"


def test_processor_failure_rate_is_math_on_custom_metrics(synthesized: Synthesized) -> None:
    alarm = _alarms(synthesized)["ProcessorFailureRate"]
    metrics = _expression_metrics(alarm)

    failures = metrics["failures"]["MetricStat"]
    calls = metrics["calls"]["MetricStat"]
    assert failures["Metric"]["MetricName"] == names.PROCESSOR_FAILURES
    assert failures["Metric"]["Namespace"] == names.METRICS_NAMESPACE
    assert calls["Metric"]["MetricName"] == names.PROCESSOR_LATENCY
    assert calls["Stat"] == "SampleCount"


@pytest.mark.parametrize(
    ("alarm_name", "metric_name"),
    [
        ("StalePendingRefunds", names.STALE_PENDING_REFUNDS),
        ("LedgerMismatch", names.LEDGER_MISMATCH),
        ("RefundOutcomeConflict", names.REFUND_OUTCOME_CONFLICT),
        ("UnmatchedDisputes", names.UNMATCHED_DISPUTES),
        ("OverRefunded", names.OVER_REFUNDED),
        ("ProcessorMismatch", names.PROCESSOR_MISMATCH),
    ],
)
def test_any_stale_refund_or_ledger_mismatch_alarms(
    synthesized: Synthesized, alarm_name: str, metric_name: str
) -> None:
    alarm = _custom_metric(_alarms(synthesized)[alarm_name])

    assert alarm["MetricName"] == metric_name
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 0
    assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    ("alarm_name", "metric_name"),
    [
        ("RefundCountAnomaly", names.REFUNDS_SUCCEEDED),
        ("RefundAmountAnomaly", names.REFUND_AMOUNT),
    ],
)
def test_anomaly_band_on_refund_count_and_amount(
    synthesized: Synthesized, alarm_name: str, metric_name: str
) -> None:
    alarm = _alarms(synthesized)[alarm_name]
    band = next(m for m in alarm["Metrics"] if "Expression" in m)
    (metric,) = _expression_metrics(alarm).values()

    assert alarm["ComparisonOperator"] == "LessThanLowerOrGreaterThanUpperThreshold"
    assert band["Expression"].startswith("ANOMALY_DETECTION_BAND(")
    assert alarm["ThresholdMetricId"] == band["Id"]
    assert metric["MetricStat"]["Metric"]["MetricName"] == metric_name
    assert metric["MetricStat"]["Metric"]["Namespace"] == names.METRICS_NAMESPACE


@pytest.mark.parametrize("function", ["Reconciler", "Verifier", "ProcessorReconciler"])
def test_dead_letter_depth(synthesized: Synthesized, function: str) -> None:
    alarm = _alarms(synthesized)[f"{function}DeadLetters"]
    queue = synthesized.logical_id(f"Functions/{function}/DeadLetterQueue/Resource")

    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
    ]
    assert alarm["Threshold"] == 0


def test_dashboard_shows_outcomes_latency_and_alarms(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])

    for metric_name in (
        names.REFUNDS_REQUESTED,
        names.REFUNDS_SUCCEEDED,
        names.REFUNDS_FAILED,
        names.REFUNDS_PENDING,
        names.DUPLICATE_BLOCKED,
        names.CHARGEBACK_CONFLICT,
        names.REFUND_AMOUNT,
        names.PROCESSOR_LATENCY,
        names.STALE_PENDING_REFUNDS,
        names.LEDGER_MISMATCH,
    ):
        assert metric_name in body, metric_name
    assert "Refunds by outcome" in body
    assert "Processor latency" in body
    for alarm_id in synthesized.of_type("AWS::CloudWatch::Alarm"):
        assert alarm_id in body  # the alarm status widget lists every alarm


def test_processor_mismatch_stays_up_between_hourly_runs(synthesized: Synthesized) -> None:
    alarm = _alarms(synthesized)["ProcessorMismatch"]

    assert alarm["Period"] == 3600
    assert alarm["Statistic"] == "Sum"


def _alarmed_custom_metrics(alarm: dict[str, Any]) -> set[str]:
    metrics = [alarm] + [
        m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m
    ]
    return {
        metric["MetricName"]
        for metric in metrics
        if metric.get("Namespace") == names.METRICS_NAMESPACE
    }


def test_every_alarmed_custom_metric_has_a_graph(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    alarmed = set().union(*(_alarmed_custom_metrics(a) for a in _alarms(synthesized).values()))

    assert {names.OVER_REFUNDED, names.PROCESSOR_MISMATCH} <= alarmed
    assert [name for name in sorted(alarmed) if f'\\"{name}\\"' not in body] == []
