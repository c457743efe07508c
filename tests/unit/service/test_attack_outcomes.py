"""Attacks on how processor answers reach the ledger: kept answers, stale answers, reordered
refund webhooks. Each test states what the ledger must say once reconcilers and webhooks ran."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from refund_service.adapters.processors.webhooks_stripe import classify_event
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRequest,
    ProcessorResult,
    ProcessorStatus,
    normalized,
)
from refund_service.domain.refund import RefundStatus
from refund_service.service.ports import ConcurrentUpdateError
from refund_service.service.reconciler import reconcile
from refund_service.service.webhooks import handle_event
from tests.support.world import World
from tests.unit.service.test_processor_agreement import (
    InMemoryLog,
    RacedProcessor,
    reconcile_now,
    refund,
)


class OutcomeWritesLose:
    """The ledger store, except that every write booking a processor answer loses to
    contention: the request must keep the answer and leave it to be booked later."""

    def __init__(self, store: Any):
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def commit(self, change: Any) -> None:
        if any(record.action.value == "PROCESSOR_RESPONDED" for record in change.audit):
            raise ConcurrentUpdateError("simulated contention on the outcome write")
        self.store.commit(change)


def test_a_kept_timeout_answer_never_lets_the_reconciler_book_the_payout(world: World) -> None:
    # Given a refund the processor received and paid, whose answer was lost (timeout), and
    # whose outcome write lost to contention: the TIMEOUT answer is kept
    tid = world.pay(amount=10_000)
    store = world.services.store
    world.services.store = OutcomeWritesLose(store)  # type: ignore[assignment]
    told = refund(world, tid, 4_000, metadata={"simulate": "timeout"})
    world.services.store = store
    rid = told.refund.refund_id
    assert told.refund.status is RefundStatus.PENDING
    assert world.memory.payments() == {rid: 1}
    # When the reconciler runs, before and well after the send deadline
    reconcile_now(world)
    world.clock.advance(minutes=30)
    reports = [reconcile_now(world) for _ in range(3)]
    # Then the payout is booked: the reconciler asks the processor, which paid it
    assert world.store.load(tid).refunds[rid].status is RefundStatus.SUCCESS, (
        [r.still_pending for r in reports],
        world.store.load(tid).kept_outcomes,
    )


def stripe_refund(event_id: str, status: str, previous: str, refund_id: str) -> Any:
    refund_object = {
        "id": "re_1",
        "object": "refund",
        "amount": 4_000,
        "currency": "usd",
        "status": status,
        "payment_intent": "pi_1",
        "metadata": {"refund_id": refund_id},
        "failure_reason": "expired_or_canceled_card" if status == "failed" else None,
    }
    event_type = "refund.failed" if status == "failed" else "refund.updated"
    return classify_event(
        {
            "id": event_id,
            "type": event_type,
            "data": {"object": refund_object, "previous_attributes": {"status": previous}},
        }
    )


class FailedAtProcessor(RacedProcessor):
    """The processor's own record of every refund now says failed: its last word."""

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        return normalized(ProcessorCode.EXPIRED_OR_CANCELED_CARD, "stripe", reference="re_1")


def test_reordered_refund_webhooks_book_a_payout_the_processor_took_back(world: World) -> None:
    # Given a refund Stripe answered pending, then paid (evt_1), then failed (evt_2): the
    # money went back to the merchant
    tid = world.pay(amount=10_000)
    pending = refund(world, tid, 4_000, metadata={"simulate": "pending"})
    rid = pending.refund.refund_id
    assert pending.refund.status is RefundStatus.PENDING
    paid = stripe_refund("evt_1", "succeeded", "pending", rid)
    failed = stripe_refund("evt_2", "failed", "succeeded", rid)
    world.services.processor = FailedAtProcessor(world, lambda: None)  # type: ignore[assignment]
    # When the two events arrive in the other order (Stripe does not guarantee order)
    log = InMemoryLog()
    handle_event(world.services, log, failed)
    handle_event(world.services, log, paid)
    # Then the ledger ends where the processor ended: the refund failed, nothing refunded
    state = world.store.load(tid)
    assert state.refunds[rid].status is RefundStatus.FAILED
    assert state.summary.refunded_amount == 0


def test_a_stale_approval_overrides_a_later_processor_failure(world: World) -> None:
    # Given a request the processor approves, and fails right after; the failure webhook is
    # booked before the request gets to book its (older) approval
    tid = world.pay(amount=10_000)
    inner = world.services.processor
    log = InMemoryLog()

    class ApprovesThenFails(RacedProcessor):
        def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
            answer = inner.refund(request)
            assert answer.status is ProcessorStatus.SUCCEEDED
            failed = stripe_refund("evt_f", "failed", "succeeded", request.refund_id)
            handle_event(world.services, log, failed)
            return answer

        def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
            return FailedAtProcessor.lookup(self, request)  # type: ignore[arg-type]

    world.services.processor = ApprovesThenFails(world, lambda: None)  # type: ignore[assignment]
    outcome = refund(world, tid, 4_000)
    # Then the processor's last word (failed) stands in the ledger
    state = world.store.load(tid)
    assert state.refunds[outcome.refund.refund_id].status is RefundStatus.FAILED, (
        outcome.refund.status,
        state.summary.refunded_amount,
    )


def test_long_pending_refunds_starve_the_reconciler_of_a_paid_one(world: World) -> None:
    # Given refunds the processor still reports pending (Stripe refunds can stay pending for
    # days), as many as one reconciler run takes (limit 2 here; 200 in the deployed function)
    inner = world.services.processor

    class SlowToDecide(RacedProcessor):
        def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
            if request.metadata.get("slow"):
                return pending_answer
            return inner.lookup(request)

    pending_answer = inner.refund(
        ProcessorRefundRequest(
            "probe-REFUND", "probe", 1, "USD", "other", metadata={"simulate": "pending"}
        )
    )
    world.services.processor = SlowToDecide(world, lambda: None)  # type: ignore[assignment]
    for _ in range(2):
        refund(
            world, world.pay(amount=1_000), 1_000, metadata={"simulate": "pending", "slow": True}
        )
    world.clock.advance(seconds=1)
    # And, after them, a refund the processor paid whose answer was lost
    tid = world.pay(amount=10_000)
    lost = refund(world, tid, 4_000, metadata={"simulate": "timeout"})
    assert lost.refund.status is RefundStatus.PENDING
    # When the reconciler runs again and again
    for _ in range(5):
        world.clock.advance(minutes=10)
        reconcile(world.services, timedelta(0), timedelta(hours=1), limit=2)
    # Then the paid refund is booked
    assert world.store.load(tid).refunds[lost.refund.refund_id].status is RefundStatus.SUCCESS


def test_a_refund_the_processor_acknowledged_is_never_declared_unsent(world: World) -> None:
    # Given a refund the processor acknowledged (answer pending, with its reference)
    tid = world.pay(amount=10_000)
    acknowledged = refund(world, tid, 4_000, metadata={"simulate": "pending"}, idempotency_key="k")
    rid = acknowledged.refund.refund_id
    assert acknowledged.refund.processor and acknowledged.refund.processor["processor_reference"]
    # When, past the send deadline, a lookup finds nothing (Stripe's list answering 404, which
    # the adapter reads as "no refund": a key for the wrong account, a payment id mix-up)
    inner = world.services.processor

    class ListsNothing(RacedProcessor):
        def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
            return None

    world.services.processor = ListsNothing(world, lambda: None)  # type: ignore[assignment]
    world.clock.advance(minutes=5)
    reconcile_now(world)
    world.services.processor = inner
    # Then the refund stays pending: it reached the processor, which may still pay it
    assert world.store.load(tid).refunds[rid].status is RefundStatus.PENDING
    # (otherwise the same-key retry is told "nothing was refunded" and pays a second refund)
    retry = refund(world, tid, 4_000, metadata={"simulate": "pending"}, idempotency_key="k")
    assert retry.refund.refund_id == rid
