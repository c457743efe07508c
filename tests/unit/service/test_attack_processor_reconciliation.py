"""Attacks on processor reconciliation (SPEC 3.1): it compares the processor's refunds with
the ledger "both ways", and reports every difference it does not book."""

from __future__ import annotations

from datetime import timedelta

from refund_service.adapters.processors.webhooks_stripe import classify_event
from refund_service.domain.processor import (
    ProcessorRefundRecord,
    ProcessorStatus,
    WebhookEvent,
    WebhookEventKind,
)
from refund_service.domain.refund import RefundStatus
from refund_service.service.processor_reconciliation import reconcile_processor
from refund_service.service.webhooks import WebhookOutcome, handle_event
from tests.support.world import World
from tests.unit.service.test_processor_agreement import InMemoryLog, ListingProcessor, refund


def listed(
    world: World, refund_id: str, amount: int, status: ProcessorStatus
) -> ProcessorRefundRecord:
    return ProcessorRefundRecord(
        "simulated", f"re_{refund_id}", refund_id, amount, "USD", status, world.clock().isoformat()
    )


def run(world: World, listing: list[ProcessorRefundRecord]) -> object:
    world.services.processor = ListingProcessor(world, listing)  # type: ignore[assignment]
    now = world.clock()
    return reconcile_processor(world.services, now - timedelta(hours=1), now + timedelta(seconds=1))


def test_a_ledger_success_the_processor_lists_as_failed_is_reported(world: World) -> None:
    # Given a refund the ledger booked as paid, which the processor lists as failed
    tid = world.pay(amount=10_000)
    paid = refund(world, tid, 4_000)
    assert paid.refund.status is RefundStatus.SUCCESS
    # When processor reconciliation runs
    report = run(world, [listed(world, paid.refund.refund_id, 4_000, ProcessorStatus.FAILED)])
    # Then the difference is reported: the ledger says 4,000 went back that the processor kept
    assert [m.refund_id for m in report.mismatches] == [paid.refund.refund_id]  # type: ignore[attr-defined]
    assert world.metrics.counts.get("ProcessorMismatch") == 1


def test_a_listed_payout_for_a_refund_failed_after_success_is_neither_booked_nor_reported(
    world: World,
) -> None:
    # Given a refund paid, then failed by a processor notification (REVERSAL entries, no void)
    tid = world.pay(amount=10_000)
    paid = refund(world, tid, 4_000)
    rid = paid.refund.refund_id
    late = WebhookEvent(
        "simulated", "evt-late-fail", WebhookEventKind.REFUND_FAILED, "refund.failed",
        refund_id=rid, transaction_id=tid,
    )  # fmt: skip
    assert handle_event(world.services, InMemoryLog(), late).outcome is WebhookOutcome.REVERSED
    # When the processor's list says the refund is paid
    report = run(world, [listed(world, rid, 4_000, ProcessorStatus.SUCCEEDED)])
    # Then the payout is booked, or at least reported: never passed over in silence
    booked = world.store.load(tid).refunds[rid].status is RefundStatus.SUCCESS
    reported = [m.refund_id for m in report.mismatches] == [rid]  # type: ignore[attr-defined]
    assert booked or reported, report


def test_a_payout_made_outside_the_service_is_never_booked(world: World) -> None:
    # Given a payment, refunded in full at Stripe by hand (dashboard): no refund id of ours
    tid = world.pay(amount=10_000, processor_reference="pi_7")
    manual = {
        "id": "re_manual",
        "object": "refund",
        "amount": 10_000,
        "currency": "usd",
        "status": "succeeded",
        "payment_intent": "pi_7",
        "metadata": {},
    }
    event = classify_event({"id": "evt_m", "type": "refund.created", "data": {"object": manual}})
    handle_event(world.services, InMemoryLog(), event)
    # Then the payout is booked (SPEC 3.1: every payout is booked, however it is learnt);
    # otherwise the ledger still offers all 10,000 for refund
    assert world.store.load(tid).summary.refunded_amount == 10_000
