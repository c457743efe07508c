"""The ledger agrees with the processor (SPEC 3.1): one regression test per way it used not to.

Each test replays a scenario in which the ledger and the processor could disagree, or the
client could be told something untrue, and checks the processor's money against the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from refund_service.domain.audit import AuditAction
from refund_service.domain.chargeback import ChargebackStatus, DisputeOutcome
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.ledger import EntryType, PaymentStatus
from refund_service.domain.processor import (
    ProcessorRefundRecord,
    ProcessorRefundRequest,
    ProcessorResult,
    ProcessorStatus,
    WebhookEvent,
    WebhookEventKind,
)
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.service.payments import (
    ChargebackCommand,
    record_chargeback,
    resolve_chargeback,
)
from refund_service.service.processor_reconciliation import reconcile_processor
from refund_service.service.queries import get_audit, verify_transaction
from refund_service.service.reconciler import reconcile
from refund_service.service.refunds import RefundCommand, RefundOutcome, request_refund
from refund_service.service.settlement import rollback_refund
from refund_service.service.webhooks import WebhookOutcome, handle_event
from tests.support.world import USER, World


def refund(world: World, tid: str, amount: int | None = None, **kw: Any) -> RefundOutcome:
    command = RefundCommand(tid, RefundReason.OTHER, amount, **kw)
    return request_refund(world.services, command, USER)


def reconcile_now(world: World) -> Any:
    """A reconciler run a moment later, taking every pending refund."""
    world.clock.advance(seconds=1)
    return reconcile(world.services, timedelta(0), timedelta(hours=1))


def assert_verified(world: World, tid: str) -> None:
    assert verify_transaction(world.store, tid).ok


class RacedProcessor:
    """The simulated processor, with something run just before each refund request arrives:
    a slow network, during which anything else may happen."""

    def __init__(self, world: World, meanwhile: Callable[[], None]):
        self.inner = world.services.processor
        self.name = self.inner.name
        self.meanwhile = meanwhile

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        self.meanwhile()
        return self.inner.refund(request)

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        return self.inner.lookup(request)

    def refunds_between(
        self, since: datetime, until: datetime
    ) -> Iterable[ProcessorRefundRecord] | None:
        return self.inner.refunds_between(since, until)


def test_reconciliation_during_a_slow_send_leaves_the_refund_to_its_request(world: World) -> None:
    # Given a refund on its way to the processor while the reconciler runs three times
    tid = world.pay(amount=10_000)
    reports: list[Any] = []
    world.services.processor = RacedProcessor(  # type: ignore[assignment]
        world, lambda: reports.extend(reconcile_now(world) for _ in range(3))
    )
    # When the request arrives and is paid
    outcome = refund(world, tid, 2_500, idempotency_key="k-1")
    # Then the reconciler saw a refund it could not yet declare unsent, and voided nothing
    assert all(r.examined == 1 and not r.voided for r in reports)
    assert outcome.refund.status is RefundStatus.SUCCESS
    assert world.memory.payments() == {f"{tid}-REFUND": 1}
    # And the same-key retry finds that refund, and pays nothing more
    again = refund(world, tid, 2_500, idempotency_key="k-1")
    assert again.refund.refund_id == outcome.refund.refund_id
    assert world.memory.payments() == {f"{tid}-REFUND": 1}
    assert world.store.load(tid).summary.refunded_amount == 2_500
    assert_verified(world, tid)


def test_a_refund_never_sent_is_voided_only_after_its_send_deadline(world: World) -> None:
    # Given a reservation whose request died before it reached the processor
    tid = world.pay(amount=10_000)

    def crash() -> None:
        raise SystemExit("the process died before sending")

    world.services.processor = RacedProcessor(world, crash)  # type: ignore[assignment]
    with pytest.raises(SystemExit):
        refund(world, tid, 1_000, idempotency_key="k-2")
    world.services.processor = world.services.processor.inner  # type: ignore[attr-defined]
    # When the reconciler looks before the deadline, the refund stays pending
    assert reconcile_now(world).still_pending == [f"{tid}-REFUND"]
    # And a same-key retry resumes it without sending and is told it is pending
    resumed = refund(world, tid, 1_000, idempotency_key="k-2")
    assert resumed.refund.status is RefundStatus.PENDING
    # Then once the deadline has passed, "not found" voids it: it can no longer be sent
    world.clock.advance(seconds=world.services.policy.send_window_seconds + 1)
    assert reconcile_now(world).voided == [f"{tid}-REFUND"]
    assert world.memory.payments() == {}
    assert world.store.load(tid).summary.refundable_amount == 10_000


def test_a_request_past_its_send_deadline_sends_nothing(world: World) -> None:
    # Given a request held up between its reservation and its send past the deadline
    tid = world.pay(amount=10_000)
    store = world.services.store
    window = world.services.policy.send_window_seconds

    class SlowAfterReserving:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def commit(self, change: Any) -> None:
            store.commit(change)
            if any(e.type is EntryType.REFUND_PENDING for e in change.entries):
                world.clock.advance(seconds=window)

    world.services.store = SlowAfterReserving()  # type: ignore[assignment]
    # When it gets to send, the processor is not asked: the refund may already count as unsent
    outcome = refund(world, tid, 1_000)
    # Then the client is told, truly, that nothing was refunded, and nothing was
    assert outcome.refund.status is RefundStatus.FAILED
    assert outcome.result.retryable
    assert world.memory.payments() == {}


def test_a_payout_for_a_voided_refund_is_booked_even_past_the_captured_amount(
    world: World,
) -> None:
    # Given a refund voided as unsent, and the whole payment refunded since
    tid = world.pay(amount=10_000, tax=1_000)
    voided = refund(world, tid, 4_000, metadata={"simulate": "network_error"})
    assert voided.refund.status is RefundStatus.FAILED
    refund(world, tid)
    before = world.store.load(tid)
    # When the processor says the first one was paid after all
    event = WebhookEvent(
        "simulated",
        "evt-late-1",
        WebhookEventKind.REFUND_SUCCEEDED,
        "refund.succeeded",
        refund_id=voided.refund.refund_id,
        transaction_id=tid,
    )
    handled = handle_event(world.services, InMemoryLog(), event)
    # Then it is booked by new entries: 14,000 refunded of 10,000, and the summary says so
    assert handled.outcome is WebhookOutcome.LATE_SUCCESS
    state = world.store.load(tid)
    assert state.entries[: len(before.entries)] == before.entries
    assert state.summary.refunded_amount == 14_000
    assert state.summary.status.value == "over_refunded"
    assert world.metrics.counts["OverRefunded"] == 1
    assert state.refunds[voided.refund.refund_id].status is RefundStatus.SUCCESS
    assert_verified(world, tid)


def test_a_dispute_larger_than_what_is_left_is_booked_in_full(world: World) -> None:
    tid = world.pay(amount=10_000)
    refund(world, tid, 4_000)
    command = ChargebackCommand(tid, 10_000, reason="fraudulent", chargeback_id="dp_big")
    booked = record_chargeback(world.services, command, USER)
    assert booked.chargeback.amount == 10_000
    summary = booked.state.summary
    assert (summary.chargeback_amount, summary.refundable_amount) == (10_000, 0)
    assert summary.status.value == "over_refunded"  # 4,000 refunded and 10,000 taken back
    with pytest.raises(DomainError) as refused:
        refund(world, tid, 100)
    assert refused.value.code is ErrorCode.CHARGEBACK_CONFLICT
    # the same chargeback id again is a replay
    again = record_chargeback(world.services, command, USER)
    assert again.state.summary.chargeback_amount == 10_000
    assert_verified(world, tid)


def test_a_won_dispute_restores_what_was_refundable_and_a_lost_one_books_nothing(
    world: World,
) -> None:
    tid = world.pay(amount=10_000)
    refund(world, tid, 3_000)
    record_chargeback(world.services, ChargebackCommand(tid, chargeback_id="dp_w"), USER)
    won = resolve_chargeback(world.services, tid, "dp_w", DisputeOutcome.WON, USER)
    assert won.chargeback.status is ChargebackStatus.WON
    assert won.state.entries[-1].type is EntryType.CHARGEBACK_REVERSAL
    assert won.state.summary.refundable_amount == 7_000
    with pytest.raises(DomainError) as twice:
        resolve_chargeback(world.services, tid, "dp_w", DisputeOutcome.LOST, USER)
    assert twice.value.code is ErrorCode.CHARGEBACK_ALREADY_RESOLVED
    record_chargeback(world.services, ChargebackCommand(tid, 2_000, chargeback_id="dp_l"), USER)
    entries = len(world.store.load(tid).entries)
    lost = resolve_chargeback(world.services, tid, "dp_l", DisputeOutcome.LOST, USER)
    assert len(lost.state.entries) == entries
    assert lost.state.summary.chargeback_amount == 2_000
    with pytest.raises(DomainError) as unknown:
        resolve_chargeback(world.services, tid, "dp_none", DisputeOutcome.WON, USER)
    assert unknown.value.code is ErrorCode.CHARGEBACK_NOT_FOUND
    actions = [r.action for r in get_audit(world.store, tid).records]
    assert actions.count(AuditAction.CHARGEBACK_REJECTED) == 2
    assert_verified(world, tid)


DISPUTE = "dp_77"


def told(
    world: World,
    log: InMemoryLog,
    tid: str,
    event_id: str,
    kind: WebhookEventKind,
    dispute: str = DISPUTE,
    amount: int = 10_000,
) -> WebhookOutcome:
    """A dispute event as the processor adapter hands it over, for the transaction `tid`."""
    event = WebhookEvent(
        "stripe",
        event_id,
        kind,
        "charge.dispute",
        transaction_id=tid,
        amount=amount,
        dispute_reference=dispute,
    )
    return handle_event(world.services, log, event).outcome


@pytest.mark.parametrize(
    ("kind", "status"),
    [(WebhookEventKind.CHARGEBACK_WON, "won"), (WebhookEventKind.CHARGEBACK_LOST, "lost")],
)
def test_dispute_outcomes_by_webhook_resolve_the_chargeback_once(
    world: World, kind: WebhookEventKind, status: str
) -> None:
    tid = world.pay(amount=10_000)
    log = InMemoryLog()

    def dispute(event_id: str, event_kind: WebhookEventKind) -> WebhookOutcome:
        return told(world, log, tid, event_id, event_kind)

    assert dispute("evt-1", WebhookEventKind.CHARGEBACK) is WebhookOutcome.CHARGEBACK_RECORDED
    assert dispute("evt-2", kind) is WebhookOutcome.CHARGEBACK_RESOLVED
    assert dispute("evt-3", kind) is WebhookOutcome.UNCHANGED  # a second event of the same end
    head = world.store.load(tid).head
    assert head.chargebacks[DISPUTE].status.value == status
    assert head.summary.refundable_amount == (10_000 if status == "won" else 0)


def test_a_dispute_the_processor_reports_won_after_it_was_lost_books_the_reversal_once(
    world: World,
) -> None:
    # Given a payment partly refunded, then charged back in full and the dispute lost
    tid = world.pay(amount=10_000)
    refund(world, tid, 3_000)
    log = InMemoryLog()
    assert told(world, log, tid, "evt-1", WebhookEventKind.CHARGEBACK) is (
        WebhookOutcome.CHARGEBACK_RECORDED
    )
    assert told(world, log, tid, "evt-2", WebhookEventKind.CHARGEBACK_LOST) is (
        WebhookOutcome.CHARGEBACK_RESOLVED
    )
    lost = world.store.load(tid).summary
    assert (lost.chargeback_amount, lost.refundable_amount) == (10_000, 0)
    # When the processor returns the funds: the merchant won an appeal (funds_reinstated),
    # then the dispute closes as won (a second event of the same end)
    assert told(world, log, tid, "evt-3", WebhookEventKind.CHARGEBACK_WON) is (
        WebhookOutcome.CHARGEBACK_RESOLVED
    )
    assert told(world, log, tid, "evt-4", WebhookEventKind.CHARGEBACK_WON) is (
        WebhookOutcome.UNCHANGED
    )
    # Then the ledger follows the money: one reversal, and what was refundable is again
    state = world.store.load(tid)
    reversals = [e for e in state.entries if e.type is EntryType.CHARGEBACK_REVERSAL]
    assert len(reversals) == 1
    assert state.head.chargebacks[DISPUTE].status is ChargebackStatus.WON
    assert (state.summary.chargeback_amount, state.summary.refundable_amount) == (0, 7_000)
    # And a loss told again after the win changes nothing
    assert told(world, log, tid, "evt-5", WebhookEventKind.CHARGEBACK_LOST) is (
        WebhookOutcome.UNCHANGED
    )
    assert world.store.load(tid).summary == state.summary
    assert_verified(world, tid)


def test_through_the_api_a_lost_dispute_stays_lost(world: World) -> None:
    """Only the processor can say a lost dispute was won after all: an API caller cannot."""
    tid = world.pay(amount=10_000)
    record_chargeback(world.services, ChargebackCommand(tid, chargeback_id="dp_l"), USER)
    resolve_chargeback(world.services, tid, "dp_l", DisputeOutcome.LOST, USER)

    with pytest.raises(DomainError) as refused:
        resolve_chargeback(world.services, tid, "dp_l", DisputeOutcome.WON, USER)

    assert refused.value.code is ErrorCode.CHARGEBACK_ALREADY_RESOLVED
    assert world.store.load(tid).summary.chargeback_amount == 10_000


def test_a_failed_payment_books_no_tax_and_captures_nothing(world: World) -> None:
    tid = world.pay(amount=10_000, tax=1_900, fee=300, status=PaymentStatus.FAILED)
    state = world.store.load(tid)
    assert [e.type for e in state.entries] == [EntryType.PAYMENT]
    assert state.entries[0].postings == ()
    assert (state.summary.captured_amount, state.summary.tax_amount) == (0, 0)
    assert state.summary.refundable_amount == 0
    assert_verified(world, tid)


def test_a_refused_rollback_is_audited_with_caller_and_reason(world: World) -> None:
    tid = world.pay(amount=10_000)
    declined = refund(world, tid, 1_000, metadata={"simulate": "decline"})
    with pytest.raises(DomainError) as refused:
        rollback_refund(world.services, tid, declined.refund.refund_id, "entered twice", USER)
    assert refused.value.code is ErrorCode.REFUND_NOT_REVERSIBLE
    record = get_audit(world.store, tid).records[-1]
    assert record.action is AuditAction.ROLLBACK_REJECTED
    assert record.initiator.id == USER.initiator.id
    assert record.details["reason"] == "entered twice"
    assert record.details["error_code"] == "REFUND_NOT_REVERSIBLE"


def test_a_processor_listing_books_what_the_ledger_lacks_and_reports_the_rest(
    world: World,
) -> None:
    # Given a refund voided as unsent, one paid, and the processor's own list of payouts
    tid = world.pay(amount=10_000)
    voided = refund(world, tid, 1_000, metadata={"simulate": "network_error"})
    paid = refund(world, tid, 2_000)
    now = world.clock()

    def payout(refund_id: str | None, amount: int) -> ProcessorRefundRecord:
        return ProcessorRefundRecord(
            "simulated", f"re_{refund_id}", refund_id, amount, "USD",
            ProcessorStatus.SUCCEEDED, now.isoformat(),
        )  # fmt: skip

    listing = [
        payout(voided.refund.refund_id, 1_000),  # paid, though the ledger voided it
        payout(paid.refund.refund_id, 2_000),  # agreed
        payout("other-txn-REFUND", 500),  # unknown to the ledger
    ]
    world.services.processor = ListingProcessor(world, listing)  # type: ignore[assignment]
    # When processor reconciliation runs
    window = (now - timedelta(hours=1), now + timedelta(seconds=1))
    report = reconcile_processor(world.services, *window)
    # Then the missing payout is booked and the unknown one reported
    assert report.booked == [voided.refund.refund_id]
    assert report.agreed == 1
    assert [m.refund_id for m in report.mismatches] == ["other-txn-REFUND"]
    assert world.store.load(tid).summary.refunded_amount == 3_000
    assert world.metrics.counts["ProcessorMismatch"] == 1
    # And running it again books nothing twice
    again = reconcile_processor(world.services, *window)
    assert again.booked == [] and again.agreed == 2
    assert_verified(world, tid)


@dataclass
class InMemoryLog:
    keys: set[str] = field(default_factory=set)

    def seen(self, key: str) -> bool:
        return key in self.keys

    def remember(self, key: str) -> None:
        self.keys.add(key)


class ListingProcessor(RacedProcessor):
    def __init__(self, world: World, listing: list[ProcessorRefundRecord]):
        super().__init__(world, lambda: None)
        self.listing = listing

    def refunds_between(
        self, since: datetime, until: datetime
    ) -> Iterable[ProcessorRefundRecord] | None:
        return [r for r in self.listing if since <= datetime.fromisoformat(r.created_at) < until]


class ForgetfulProcessor(ListingProcessor):
    """Lists nothing and knows nothing: a payout the ledger holds is none of its own."""

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        return None


def test_a_ledger_payout_the_processor_neither_lists_nor_knows_is_reported(
    world: World,
) -> None:
    # Given a refund the ledger booked as paid
    tid = world.pay(amount=10_000)
    paid = refund(world, tid, 2_000)
    now = world.clock()
    window = (now - timedelta(hours=1), now + timedelta(seconds=1))
    # When the processor's list lacks it but its lookup still finds it (the list's edge)
    world.services.processor = ListingProcessor(world, [])  # type: ignore[assignment]
    edge = reconcile_processor(world.services, *window)
    # Then it agrees; and when the processor knows nothing of it, it is reported
    assert (edge.agreed, edge.mismatches) == (1, [])
    world.services.processor = ForgetfulProcessor(world, [])  # type: ignore[assignment]
    report = reconcile_processor(world.services, *window)
    assert [(m.refund_id, m.problem) for m in report.mismatches] == [
        (paid.refund.refund_id, "paid in the ledger, unknown to the processor")
    ]
