"""The change stream in the stack: the ledger table's stream, the bus, the event source
mapping's settings, its on-failure queue, their alarms; and the sweep's and reconciler's
coordination (leases and checkpoints) limited to their own items."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from local import stream as local_stream
from local.config import LocalConfig
from local.provision import create_tables
from refund_service.storage.schema import ALL_TABLES, LEDGER_TABLE
from tests.infra.conftest import Synthesized, arn_of, ref

PREFIX = "refund-service-dev-"


def _mapping(synthesized: Synthesized) -> dict[str, Any]:
    (mapping,) = synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
    properties: dict[str, Any] = mapping["Properties"]
    return properties


def _alarm(synthesized: Synthesized, name: str) -> dict[str, Any]:
    for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values():
        if alarm["Properties"]["AlarmName"] == PREFIX + name:
            properties: dict[str, Any] = alarm["Properties"]
            return properties
    raise KeyError(name)


def test_only_the_ledger_table_has_a_stream_of_new_images(synthesized: Synthesized) -> None:
    streams = {
        resource["Metadata"]["aws:cdk:path"].split("/")[-2]: resource["Properties"].get(
            "StreamSpecification"
        )
        for resource in synthesized.of_type("AWS::DynamoDB::Table").values()
    }

    assert streams == {
        "PaymentLedger": {"StreamViewType": "NEW_IMAGE"},
        "PaymentAuditTrail": None,
        "Idempotency": None,
        "FxRates": None,
    }


def test_local_tables_are_created_with_the_same_streams(local_dynamodb: Any) -> None:
    suffix = f"-{uuid.uuid4().hex[:6]}"
    names = {spec.construct_id: spec.default_name + suffix for spec in ALL_TABLES}
    create_tables(local_dynamodb, names)

    for spec in ALL_TABLES:
        table = local_dynamodb.describe_table(TableName=names[spec.construct_id])["Table"]
        expected = (
            {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"} if spec is LEDGER_TABLE else None
        )
        assert table.get("StreamSpecification") == expected, spec.construct_id


def test_the_bus_is_named_for_the_stage_and_archived(synthesized: Synthesized) -> None:
    (bus,) = synthesized.of_type("AWS::Events::EventBus").values()
    (archive,) = synthesized.of_type("AWS::Events::Archive").values()

    assert bus["Properties"]["Name"] == "refund-service-dev"
    assert archive["Properties"]["EventPattern"] == {"source": ["refund-service"]}
    assert archive["Properties"]["RetentionDays"] == 30


def test_the_publisher_is_told_the_bus(synthesized: Synthesized) -> None:
    publisher = synthesized.resources[
        synthesized.logical_id("Functions/StreamPublisher/Function/Resource")
    ]
    bus = synthesized.logical_id("Events/Bus/Resource")

    assert publisher["Properties"]["Environment"]["Variables"]["EVENT_BUS_NAME"] == ref(bus)


def test_the_mapping_reads_the_ledger_stream_into_the_publisher(
    synthesized: Synthesized,
) -> None:
    mapping = _mapping(synthesized)
    ledger = synthesized.logical_id("Tables/PaymentLedger/Resource")
    publisher = synthesized.logical_id("Functions/StreamPublisher/Function/Resource")

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [ledger, "StreamArn"]}
    assert mapping["FunctionName"] == ref(publisher)
    assert mapping["StartingPosition"] == "TRIM_HORIZON"


def test_the_mapping_reports_partial_failures_bisects_and_gives_up_in_bounds(
    synthesized: Synthesized,
) -> None:
    mapping = _mapping(synthesized)

    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == 10
    assert mapping["MaximumRecordAgeInSeconds"] == 6 * 3600 < 24 * 3600  # inside retention
    assert mapping["ParallelizationFactor"] == 1
    assert mapping["BatchSize"] == 100


def test_the_local_poller_batches_as_the_mapping_does(synthesized: Synthesized) -> None:
    mapping = _mapping(synthesized)

    assert mapping["MaximumBatchingWindowInSeconds"] == local_stream.POLL_SECONDS
    assert mapping["BatchSize"] == local_stream.BATCH_SIZE


def test_the_local_poller_reads_at_the_mappings_window_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LOCAL_STREAM_SECONDS", raising=False)
    assert LocalConfig.from_env().stream_seconds == local_stream.POLL_SECONDS
    monkeypatch.setenv("LOCAL_STREAM_SECONDS", "3600")  # the bench pauses it (tests/bench/stack.py)
    assert LocalConfig.from_env().stream_seconds == 3600


def test_records_given_up_go_to_an_encrypted_queue(synthesized: Synthesized) -> None:
    queue_id = synthesized.logical_id("ChangeStream/FailedDeliveries/Resource")
    queue = synthesized.resources[queue_id]["Properties"]
    key = synthesized.logical_id("Keys/Operations/Resource")

    destination = _mapping(synthesized)["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == arn_of(queue_id)
    assert queue["KmsMasterKeyId"] == arn_of(key)
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_stream_lag_and_failed_deliveries_are_alarmed(synthesized: Synthesized) -> None:
    lag = _alarm(synthesized, "StreamIteratorAge")
    failed = _alarm(synthesized, "StreamFailedDeliveries")
    publisher = synthesized.logical_id("Functions/StreamPublisher/Function/Resource")
    queue = synthesized.logical_id("ChangeStream/FailedDeliveries/Resource")

    assert (lag["Namespace"], lag["MetricName"], lag["Statistic"]) == (
        "AWS/Lambda",
        "IteratorAge",
        "Maximum",
    )
    assert lag["Dimensions"] == [{"Name": "FunctionName", "Value": ref(publisher)}]
    assert lag["Threshold"] == 5 * 60 * 1000
    assert failed["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert failed["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
    ]
    assert failed["Threshold"] == 0
    assert failed["ComparisonOperator"] == "GreaterThanThreshold"


def test_ledger_mismatch_alarms_within_minutes(synthesized: Synthesized) -> None:
    alarm = _alarm(synthesized, "LedgerMismatch")

    assert alarm["Period"] == 300
    assert alarm["Threshold"] == 0


def test_the_sweep_runs_with_async_retries_off(synthesized: Synthesized) -> None:
    verifier = synthesized.logical_id("Functions/Verifier/Function/Resource")
    configs = [
        config["Properties"]
        for config in synthesized.of_type("AWS::Lambda::EventInvokeConfig").values()
        if config["Properties"]["FunctionName"] == ref(verifier)
    ]

    assert [config["MaximumRetryAttempts"] for config in configs] == [0]


def _coordination_statements(synthesized: Synthesized, function: str) -> list[dict[str, Any]]:
    policy_id = synthesized.logical_id(f"Functions/{function}/Role/DefaultPolicy/Resource")
    statements = synthesized.resources[policy_id]["Properties"]["PolicyDocument"]["Statement"]
    idempotency = arn_of(synthesized.logical_id("Tables/Idempotency/Resource"))
    return [
        s
        for s in statements
        if json.dumps(s["Resource"]) == json.dumps(idempotency) and "Condition" in s
    ]


def test_leases_and_checkpoints_reach_only_their_own_items(synthesized: Synthesized) -> None:
    for function in ("Reconciler", "Verifier"):
        (statement,) = _coordination_statements(synthesized, function)

        assert sorted(statement["Action"]) == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        assert statement["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["lease#*", "checkpoint#*"]}
        }
