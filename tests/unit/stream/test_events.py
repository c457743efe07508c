"""What each ledger entry publishes, and the EventBridge sink."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from refund_service.adapters.eventbridge import EventBridgeSink, EventPublishError
from refund_service.domain.audit import AuditAction, AuditRecord, Initiator
from refund_service.domain.ledger import (
    EntryContext,
    EntryType,
    RefundAmounts,
    refund_pending_entry,
    refund_success_entry,
    reversal_entry,
    tax_entry,
)
from refund_service.service.events import event_for, event_id_for

CTX = EntryContext("txn-1", 2, "2026-11-28T09:00:00+00:00", "USD")
REFUND = RefundAmounts("txn-1-REFUND", 1_000, 0, 0)


def _audit(action: AuditAction, entry_ids: list[str]) -> AuditRecord:
    return AuditRecord(
        seq=5,
        action=action,
        timestamp="2026-11-28T10:00:00+00:00",
        transaction_id="txn-1",
        initiator=Initiator("system", "test"),
        refund_id="txn-1-REFUND",
        details={"entries": entry_ids},
    )


def _payout_reversal() -> Any:
    paid = refund_success_entry(CTX.next(), REFUND)
    return reversal_entry(EntryContext("txn-1", 4, CTX.created_at, "USD"), paid, "taken back")


def test_a_rollback_and_a_processor_reversal_are_told_apart_by_their_audit_record() -> None:
    reversal = _payout_reversal()

    rolled = event_for(reversal, [_audit(AuditAction.REFUND_ROLLED_BACK, [reversal.entry_id])])
    reversed_ = event_for(reversal, [_audit(AuditAction.REFUND_FAILED, [reversal.entry_id])])

    assert rolled is not None and reversed_ is not None
    assert (rolled.detail_type, rolled.detail["status"]) == ("refund.rolled_back", "rolled_back")
    assert (reversed_.detail_type, reversed_.detail["status"]) == ("refund.reversed", "failed")
    assert rolled.event_id == reversed_.event_id == event_id_for("txn-1#000004")


def test_only_the_reversal_of_the_payout_publishes() -> None:
    pending = refund_pending_entry(CTX, REFUND)
    reversal = reversal_entry(EntryContext("txn-1", 5, CTX.created_at, "USD"), pending)

    rollback = _audit(AuditAction.REFUND_ROLLED_BACK, [reversal.entry_id])
    assert event_for(reversal, [rollback]) is None
    assert event_for(tax_entry(CTX, 100)) is None
    assert reversal.type is EntryType.REVERSAL


def test_the_event_id_depends_on_the_entry_alone() -> None:
    first = event_for(refund_pending_entry(CTX, REFUND))
    again = event_for(refund_pending_entry(CTX, REFUND))
    other = event_for(refund_pending_entry(CTX.next(), REFUND))

    assert first is not None and again is not None and other is not None
    assert first.event_id == again.event_id != other.event_id


@pytest.fixture
def bus_with_queue() -> Any:
    """A bus whose rule (the documented consumer rule's shape) feeds an SQS queue."""
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        events.create_event_bus(Name="refund-service-test")
        queue_url = sqs.create_queue(QueueName="outcomes")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(
            Name="outcomes",
            EventBusName="refund-service-test",
            EventPattern=json.dumps(
                {"source": ["refund-service"], "detail-type": ["refund.succeeded"]}
            ),
        )
        events.put_targets(
            Rule="outcomes",
            EventBusName="refund-service-test",
            Targets=[{"Id": "queue", "Arn": queue_arn}],
        )
        yield events, sqs, queue_url


def test_the_sink_puts_events_on_the_bus_where_a_consumer_rule_matches_them(
    bus_with_queue: Any,
) -> None:
    events, sqs, queue_url = bus_with_queue
    succeeded = event_for(refund_success_entry(CTX, REFUND))
    pending = event_for(refund_pending_entry(CTX, REFUND))
    assert succeeded is not None and pending is not None

    EventBridgeSink(events, "refund-service-test").publish([pending] + [succeeded] * 11)

    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    bodies = [json.loads(m["Body"]) for m in received]
    assert {b["detail-type"] for b in bodies} == {"refund.succeeded"}
    assert bodies[0]["source"] == "refund-service"
    assert bodies[0]["detail"] == succeeded.detail


def test_entries_eventbridge_refuses_raise_so_the_record_is_retried() -> None:
    class Refusing:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
            return {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "ThrottlingException"} for _ in Entries],
            }

    event = event_for(refund_success_entry(CTX, REFUND))
    assert event is not None

    with pytest.raises(EventPublishError, match="ThrottlingException"):
        EventBridgeSink(Refusing(), "bus").publish([event])
