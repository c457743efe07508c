"""The ledger table's change stream on DynamoDB Local: events and incremental verification.

The stream is DynamoDB Local's own, read with boto3's dynamodbstreams client, fed to the same
`process_batch` the Lambda handler runs.
"""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from local.stream import LocalChangeStream, LocalEventSink
from refund_service.adapters.dynamodb.event_log import DynamoDBEventLog
from refund_service.domain.chargeback import DisputeOutcome
from refund_service.domain.ledger import PaymentStatus
from refund_service.domain.processor import WebhookEvent, WebhookEventKind
from refund_service.domain.refund import RefundReason
from refund_service.service.events import event_for
from refund_service.service.payments import (
    ChargebackCommand,
    complete_payment,
    record_chargeback,
    resolve_chargeback,
)
from refund_service.service.refunds import RefundCommand, request_refund
from refund_service.service.settlement import rollback_refund
from refund_service.service.webhooks import handle_event
from tests.support.world import USER, MutableClock, World, make_world


@pytest.fixture
def world(local_dynamodb: Any) -> World:
    return make_world(local_dynamodb, MutableClock(), suffix=f"-{uuid.uuid4().hex[:8]}")


def streams_client(local_dynamodb: Any) -> Any:
    return boto3.client(
        "dynamodbstreams",
        endpoint_url=local_dynamodb.meta.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def change_stream(world: World, sink: LocalEventSink | None = None) -> LocalChangeStream:
    return LocalChangeStream(
        world.client,
        streams_client(world.client),
        world.tables["PaymentLedger"],
        world.store,
        sink or LocalEventSink(),
        world.metrics,
    )


def refund(world: World, transaction_id: str, amount: int, simulate: str = "approve") -> str:
    command = RefundCommand(
        transaction_id,
        RefundReason.REQUESTED_BY_CUSTOMER,
        amount,
        metadata={"simulate": simulate},
    )
    return request_refund(world.services, command, USER).refund.refund_id


def events_of(sink: LocalEventSink, transaction_id: str) -> list[dict[str, Any]]:
    return [e for e in sink.after(None) if e["detail"]["transaction_id"] == transaction_id]


def test_every_committed_change_is_published_once_in_ledger_order(world: World) -> None:
    refunded = world.pay(amount=10_000)
    paid_back = refund(world, refunded, 3_000)
    refund(world, refunded, 1_000, simulate="decline")
    rollback_refund(world.services, refunded, paid_back, "sent twice", USER)
    disputed = world.pay(amount=5_000, status=PaymentStatus.PENDING)
    complete_payment(world.services, disputed, USER)
    chargeback = record_chargeback(world.services, ChargebackCommand(disputed), USER).chargeback
    resolve_chargeback(world.services, disputed, chargeback.chargeback_id, DisputeOutcome.WON, USER)
    sink = LocalEventSink()

    change_stream(world, sink).drain()
    change_stream(world, sink).drain()  # every record delivered again, from the trim horizon

    assert [e["detail_type"] for e in events_of(sink, refunded)] == [
        "payment.recorded",
        "refund.pending",
        "refund.succeeded",
        "refund.pending",
        "refund.failed",
        "refund.rolled_back",
    ]
    assert [(e["detail_type"], e["detail"]["status"]) for e in events_of(sink, disputed)] == [
        ("payment.recorded", "pending"),
        ("payment.completed", "completed"),
        ("chargeback.recorded", "open"),
        ("chargeback.resolved", "won"),
    ]
    for transaction_id in (refunded, disputed):
        state = world.store.load(transaction_id)
        audit = world.store.audit_records(transaction_id)
        expected = [event_for(e, audit) for e in state.entries]
        published = events_of(sink, transaction_id)
        assert published == [e.as_dict() for e in expected if e is not None]
        assert len({e["event_id"] for e in published}) == len(published)


def test_a_payout_the_processor_takes_back_is_published_as_reversed(world: World) -> None:
    transaction_id = world.pay(amount=3_000)
    refund_id = refund(world, transaction_id, 3_000)
    reversal = WebhookEvent(
        "simulated",
        f"evt-{uuid.uuid4().hex[:8]}",
        WebhookEventKind.REFUND_REVERSED,
        "refund.reversed",
        refund_id=refund_id,
        transaction_id=transaction_id,
    )
    log = DynamoDBEventLog(world.client, world.tables["Idempotency"])
    handle_event(world.services, log, reversal)
    sink = LocalEventSink()

    change_stream(world, sink).drain()

    published = events_of(sink, transaction_id)
    assert [(e["detail_type"], e["detail"]["status"]) for e in published] == [
        ("payment.recorded", "completed"),
        ("refund.pending", "pending"),
        ("refund.succeeded", "succeeded"),
        ("refund.reversed", "failed"),
    ]
    assert published[-1]["detail"]["refund_id"] == refund_id


def test_event_detail_carries_exactly_the_documented_fields(world: World) -> None:
    transaction_id = world.pay(amount=2_500, currency="EUR")
    refund_id = refund(world, transaction_id, 500)
    sink = LocalEventSink()

    change_stream(world, sink).drain()

    succeeded = events_of(sink, transaction_id)[-1]
    assert succeeded["detail_type"] == "refund.succeeded"
    assert succeeded["detail"] == {
        "event_id": succeeded["event_id"],
        "transaction_id": transaction_id,
        "refund_id": refund_id,
        "amount": 500,
        "currency": "EUR",
        "status": "succeeded",
        "occurred_at": succeeded["detail"]["occurred_at"],
    }
    assert succeeded["event_id"].startswith("evt_")


def test_events_after_an_id_are_the_later_ones_oldest_first(world: World) -> None:
    transaction_id = world.pay(amount=2_000)
    refund(world, transaction_id, 500)
    sink = LocalEventSink()
    change_stream(world, sink).drain()
    first, *rest = sink.after(None)

    assert sink.route(f"after={first['event_id']}") == {"events": rest}
    assert sink.route(f"after={rest[-1]['event_id']}") == {"events": []}


def test_a_poison_record_goes_to_the_failure_path_and_the_rest_is_published(
    world: World,
) -> None:
    before = world.pay(amount=1_000)
    poisoned = f"txn-poison-{uuid.uuid4().hex[:6]}"
    world.client.put_item(
        TableName=world.tables["PaymentLedger"],
        Item={
            "pk": {"S": f"TXN#{poisoned}"},
            "sk": {"S": "ENTRY#00000001"},
            "type": {"S": "NOT_A_TYPE"},
        },
    )
    after = world.pay(amount=2_000)
    stream = change_stream(world)

    stream.drain()

    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in stream.failures] == [f"TXN#{poisoned}"]
    assert [e["detail_type"] for e in events_of(stream.sink, before)] == ["payment.recorded"]
    assert [e["detail_type"] for e in events_of(stream.sink, after)] == ["payment.recorded"]


def test_a_corrupted_summary_is_reported_as_a_ledger_mismatch_from_the_stream(
    world: World,
) -> None:
    healthy = world.pay(amount=4_000)
    corrupted = world.pay(amount=4_000)
    stream = change_stream(world)
    stream.drain()
    assert stream.mismatches == []
    verified_before = world.metrics.counts["LedgerVerified"]

    world.client.update_item(
        TableName=world.tables["PaymentLedger"],
        Key={"pk": {"S": f"TXN#{corrupted}"}, "sk": {"S": "HEAD"}},
        UpdateExpression="SET summary.refunded_amount = :wrong",
        ExpressionAttributeValues={":wrong": {"N": "1500"}},
    )
    stream.drain()

    assert [m.transaction_id for m in stream.mismatches] == [corrupted]
    mismatch = stream.mismatches[0].mismatch
    assert mismatch is not None and mismatch.field == "refunded_amount"
    assert world.metrics.counts["LedgerMismatch"] == 1
    assert world.metrics.counts["LedgerVerified"] == verified_before + 1
    assert healthy not in [m.transaction_id for m in stream.mismatches]
