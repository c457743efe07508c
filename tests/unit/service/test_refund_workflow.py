"""The refund workflow end to end on moto's DynamoDB (single-threaded)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from refund_service.domain.audit import AuditAction
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.ledger import EntryType, PaymentStatus
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.service.payments import (
    ChargebackCommand,
    complete_payment,
    record_chargeback,
)
from refund_service.service.queries import get_audit, get_refund, verify_transaction
from refund_service.service.reconciler import reconcile
from refund_service.service.refunds import RefundCommand, request_refund
from refund_service.service.settlement import rollback_refund
from tests.support.world import USER, World, make_world

REASON = RefundReason.REQUESTED_BY_CUSTOMER


def refund(world: World, transaction_id: str, amount: int | None = None, **kw: Any) -> Any:
    command = RefundCommand(transaction_id, REASON, amount, **kw)
    return request_refund(world.services, command, USER)


def entry_types(world: World, transaction_id: str) -> list[str]:
    return [e.type.value for e in world.store.load(transaction_id).entries]


def assert_consistent(world: World, transaction_id: str) -> None:
    result = verify_transaction(world.store, transaction_id)
    assert result.ok, result


def test_full_refund_reserves_then_records_success(world: World) -> None:
    # Given a completed USD payment with tax
    tid = world.pay(amount=10_000, tax=1_000, fee=300)
    # When all of it is refunded
    outcome = refund(world, tid)
    # Then the refund succeeded, and the ledger shows the reservation and the payout
    assert outcome.refund.refund_id == f"{tid}-REFUND"
    assert outcome.refund.status is RefundStatus.SUCCESS
    assert outcome.refund.amount == 10_000 and outcome.refund.tax_amount == 1_000
    assert outcome.summary.refunded_amount == 10_000
    assert outcome.summary.refundable_amount == 0
    assert outcome.summary.status.value == "refunded"
    assert entry_types(world, tid)[-2:] == ["REFUND_PENDING", "PAYMENT-SUCCESS"]
    assert world.memory.payments() == {f"{tid}-REFUND": 1}
    assert_consistent(world, tid)


def test_three_partials_add_up_and_reverse_tax_exactly(world: World) -> None:
    tid = world.pay(amount=10_001, tax=1_667)
    outcomes = [refund(world, tid, amount) for amount in (3_333, 3_334, 3_334)]
    assert [o.refund.refund_id for o in outcomes] == [
        f"{tid}-REFUND",
        f"{tid}-REFUND-2",
        f"{tid}-REFUND-3",
    ]
    summary = outcomes[-1].summary
    assert summary.refunded_amount == 10_001
    assert summary.tax_refunded_amount == 1_667
    assert sum(o.refund.tax_amount for o in outcomes) == 1_667
    assert_consistent(world, tid)


def test_proportional_fee_policy_returns_the_fee(moto_dynamodb: Any, clock: Any) -> None:
    from refund_service.domain.allocation import FeePolicy

    world = make_world(moto_dynamodb, clock, fee_policy=FeePolicy.PROPORTIONAL)
    tid = world.pay(amount=10_000, fee=290)
    refund(world, tid, 5_000)
    outcome = refund(world, tid, 5_000)
    assert outcome.summary.fee_refunded_amount == 290
    assert entry_types(world, tid).count("FEE_REVERSAL") == 2
    assert_consistent(world, tid)


def test_default_fee_policy_keeps_the_fee(world: World) -> None:
    tid = world.pay(amount=10_000, fee=290)
    outcome = refund(world, tid)
    assert outcome.summary.fee_refunded_amount == 0
    assert "FEE_REVERSAL" not in entry_types(world, tid)


def test_eur_payment_settled_in_usd_books_fx_adjustment(world: World) -> None:
    tid = world.pay(amount=10_000, currency="EUR", settlement_currency="USD", fx_rate="1.05")
    outcome = refund(world, tid, 4_000)
    entries = world.store.load(tid).entries
    fx = [e for e in entries if e.type is EntryType.FX_ADJUSTMENT]
    assert len(fx) == 1
    quote = fx[0].fx
    assert quote is not None and quote.source.startswith("ECB")
    assert quote.date <= world.clock.now.date().isoformat()
    from decimal import Decimal

    expected = round((Decimal(quote.rate) - Decimal("1.05")) * 4_000)
    assert fx[0].amount == expected and fx[0].currency == "USD"
    assert outcome.summary.fx_adjustment_amount == expected
    assert_consistent(world, tid)


@pytest.mark.parametrize(
    ("currency", "amount", "partial"), [("JPY", 12_000, 5_000), ("KWD", 10_500, 3_250)]
)
def test_zero_and_three_decimal_currencies(
    world: World, currency: str, amount: int, partial: int
) -> None:
    tid = world.pay(amount=amount, currency=currency, tax=amount // 10)
    first = refund(world, tid, partial)
    second = refund(world, tid)
    assert first.refund.currency == currency
    assert second.refund.amount == amount - partial
    assert second.summary.tax_refunded_amount == amount // 10
    assert_consistent(world, tid)


def ledger_snapshot(world: World, tid: str) -> Any:
    state = world.store.load(tid)
    return state.summary, state.entries, state.refunds


@pytest.mark.parametrize(
    ("setup", "amount", "kw", "code"),
    [
        ("chargeback", None, {}, ErrorCode.CHARGEBACK_CONFLICT),
        ("pending", None, {}, ErrorCode.TRANSACTION_PENDING),
        ("failed", None, {}, ErrorCode.TRANSACTION_NOT_REFUNDABLE),
        ("expired", None, {}, ErrorCode.REFUND_WINDOW_EXPIRED),
        ("refunded", None, {}, ErrorCode.ALREADY_REFUNDED),
        ("plain", 10_001, {}, ErrorCode.AMOUNT_EXCEEDS_REFUNDABLE),
        ("plain", 100, {"currency": "EUR"}, ErrorCode.CURRENCY_MISMATCH),
    ],
)
def test_refusals_leave_the_ledger_unchanged_and_are_audited(
    world: World, setup: str, amount: int | None, kw: dict[str, Any], code: ErrorCode
) -> None:
    status = {"pending": PaymentStatus.PENDING, "failed": PaymentStatus.FAILED}.get(
        setup, PaymentStatus.COMPLETED
    )
    tid = world.pay(amount=10_000, status=status)
    if setup == "chargeback":
        command = ChargebackCommand(tid, reason="fraud", processor_reference="dp_1")
        record_chargeback(world.services, command, USER)
    if setup == "refunded":
        refund(world, tid)
    if setup == "expired":
        world.clock.advance(days=181)
    before = ledger_snapshot(world, tid)
    with pytest.raises(DomainError) as refused:
        refund(world, tid, amount, **kw)
    assert refused.value.code is code
    summary, entries, refunds = ledger_snapshot(world, tid)
    assert (summary.refunded_amount, summary.pending_refund_amount) == (
        before[0].refunded_amount,
        before[0].pending_refund_amount,
    )
    assert entries == before[1] and refunds == before[2]
    trail = get_audit(world.store, tid)
    assert trail.chain.valid
    assert trail.records[-1].action is AuditAction.REFUND_REJECTED
    assert trail.records[-1].details["error_code"] == code.value


def test_amount_exceeding_refundable_says_how_much_is_left(world: World) -> None:
    tid = world.pay(amount=10_000)
    refund(world, tid, 7_500)
    with pytest.raises(DomainError) as refused:
        refund(world, tid, 2_501)
    assert refused.value.details["remaining_refundable"] == 2_500


def test_unknown_transaction_is_refused_and_counted_but_nothing_is_stored(world: World) -> None:
    with pytest.raises(DomainError) as refused:
        refund(world, "no-such-txn", 100)
    assert refused.value.code is ErrorCode.TRANSACTION_NOT_FOUND
    assert not world.store.load("no-such-txn").head.stored
    assert world.store.audit_records("no-such-txn") == []
    assert world.metrics.counts["RejectedUnknownTransaction"] == 1


def test_conversion_enabled_refunds_in_the_payment_currency(moto_dynamodb: Any, clock: Any) -> None:
    world = make_world(moto_dynamodb, clock, conversion=True)
    tid = world.pay(amount=100_000, currency="EUR")
    outcome = refund(world, tid, 1_000, currency="USD")
    assert outcome.refund.currency == "EUR"
    assert outcome.refund.requested_amount == 1_000
    assert outcome.refund.requested_currency == "USD"
    assert outcome.refund.conversion is not None
    assert 0 < outcome.refund.amount < 1_000  # a dollar is worth less than a euro


def test_pending_payment_is_refundable_once_completed(world: World) -> None:
    tid = world.pay(amount=5_000, fee=100, status=PaymentStatus.PENDING)
    with pytest.raises(DomainError):
        refund(world, tid)
    state = complete_payment(world.services, tid, USER)
    assert state.summary.payment_status is PaymentStatus.COMPLETED
    assert state.summary.fee_amount == 100
    assert refund(world, tid).refund.status is RefundStatus.SUCCESS
    assert_consistent(world, tid)


def test_decline_voids_the_reservation(world: World) -> None:
    tid = world.pay(amount=10_000, tax=500)
    outcome = refund(world, tid, 4_000, metadata={"simulate": "decline"})
    assert outcome.refund.status is RefundStatus.FAILED
    assert outcome.result.code.value == "DECLINED"
    assert outcome.summary.pending_refund_amount == 0
    assert outcome.summary.refundable_amount == 10_000
    assert entry_types(world, tid)[-2:] == ["REFUND_PENDING", "REFUND_VOID"]
    assert world.memory.payments() == {}
    assert_consistent(world, tid)


def test_network_error_voids_and_reports_unavailable(world: World) -> None:
    tid = world.pay(amount=10_000)
    outcome = refund(world, tid, metadata={"simulate": "network_error"})
    assert outcome.refund.status is RefundStatus.FAILED
    assert outcome.result.code.value == "PROCESSOR_UNAVAILABLE"
    assert outcome.summary.refundable_amount == 10_000
    # a retry gets a new refund id and goes through
    assert refund(world, tid).refund.refund_id == f"{tid}-REFUND-2"


@pytest.mark.parametrize("simulate", ["timeout", "pending"])
def test_unknown_outcome_stays_pending_until_reconciled(world: World, simulate: str) -> None:
    from datetime import timedelta

    tid = world.pay(amount=10_000)
    outcome = refund(world, tid, 6_000, metadata={"simulate": simulate})
    assert outcome.refund.status is RefundStatus.PENDING
    assert outcome.summary.pending_refund_amount == 6_000
    assert outcome.summary.refundable_amount == 4_000
    # not yet old enough for the reconciler
    early = reconcile(world.services, timedelta(minutes=5), timedelta(hours=1))
    assert early.examined == 0
    world.clock.advance(minutes=6)
    report = reconcile(world.services, timedelta(minutes=5), timedelta(hours=1))
    assert report.succeeded == [f"{tid}-REFUND"]
    view = get_refund(world.store, f"{tid}-REFUND")
    assert view.refund.status is RefundStatus.SUCCESS
    assert world.memory.payments() == {f"{tid}-REFUND": 1}
    assert reconcile(world.services, timedelta(0), timedelta(hours=1)).examined == 0
    assert_consistent(world, tid)


def test_rollback_reverses_a_succeeded_refund(world: World) -> None:
    tid = world.pay(
        amount=10_000, tax=1_000, currency="EUR", settlement_currency="USD", fx_rate="1.2"
    )
    done = refund(world, tid, 5_000)
    before = world.store.load(tid).entries
    rolled, summary = rollback_refund(
        world.services, tid, done.refund.refund_id, "recorded in error", USER
    )
    assert rolled.status is RefundStatus.ROLLED_BACK
    assert summary.refunded_amount == 0 and summary.tax_refunded_amount == 0
    assert summary.fx_adjustment_amount == 0
    assert summary.refundable_amount == 10_000
    after = world.store.load(tid).entries
    assert after[: len(before)] == before  # nothing written before was changed
    reversals = [e for e in after[len(before) :]]
    assert {e.type for e in reversals} == {EntryType.REVERSAL}
    assert [e.reverses_type for e in reversals] == [
        EntryType.FX_ADJUSTMENT,
        EntryType.REFUND_PAID,
        EntryType.REFUND_PENDING,
    ]
    again, _ = rollback_refund(world.services, tid, done.refund.refund_id, "again", USER)
    assert again.entry_seqs == rolled.entry_seqs
    assert_consistent(world, tid)


def test_only_succeeded_refunds_roll_back(world: World) -> None:
    tid = world.pay(amount=10_000)
    pending = refund(world, tid, 100, metadata={"simulate": "pending"})
    with pytest.raises(DomainError) as refused:
        rollback_refund(world.services, tid, pending.refund.refund_id, "x", USER)
    assert refused.value.code is ErrorCode.REFUND_NOT_REVERSIBLE


def test_every_refund_has_a_complete_audit_trail(world: World) -> None:
    tid = world.pay(amount=10_000)
    refund(world, tid, 1_000)
    actions = [r.action for r in get_audit(world.store, tid).records]
    assert actions == [
        AuditAction.PAYMENT_RECORDED,
        AuditAction.LEDGER_QUERIED,
        AuditAction.REFUND_REQUESTED,
        AuditAction.REFUND_VALIDATED,
        AuditAction.REFUND_PENDING,
        AuditAction.PROCESSOR_RESPONDED,
        AuditAction.REFUND_SUCCEEDED,
    ]
    records = get_audit(world.store, tid).records
    assert all(r.initiator.id == "user-123" for r in records)
    assert records[1].details["digest"] and len(records[1].details["digest"]) == 64


def test_a_processor_reference_names_one_transaction(world: World) -> None:
    world.pay("order-1", processor_reference="pi_shared")
    with pytest.raises(DomainError) as refused:
        world.pay("order-2", processor_reference="pi_shared")
    assert refused.value.code is ErrorCode.TRANSACTION_EXISTS
    assert world.store.find_payment("pi_shared") == "order-1"
    outcome = refund(world, "order-1", 100)
    assert outcome.refund.payment_reference == "pi_shared"


def test_a_chargeback_is_booked_in_full_whatever_is_pending(world: World) -> None:
    from datetime import timedelta

    tid = world.pay(amount=10_000)
    pending = refund(world, tid, 3_000, metadata={"simulate": "pending"})
    booked = record_chargeback(world.services, ChargebackCommand(tid, reason="fraudulent"), USER)
    assert booked.state.summary.chargeback_amount == 10_000
    assert booked.state.summary.refundable_amount == 0
    assert booked.state.summary.pending_refund_amount == 3_000
    with pytest.raises(DomainError) as refused:
        refund(world, tid, 1_000)
    assert refused.value.code is ErrorCode.CHARGEBACK_CONFLICT
    # the pending refund was paid after all: booked, and the payment shows it lost money
    world.clock.advance(minutes=10)
    reconcile(world.services, timedelta(minutes=5), timedelta(hours=1))
    summary = world.store.load(tid).summary
    assert get_refund(world.store, pending.refund.refund_id).refund.status is RefundStatus.SUCCESS
    assert (summary.refunded_amount, summary.chargeback_amount) == (3_000, 10_000)
    assert summary.status.value == "over_refunded"
    assert world.metrics.counts["OverRefunded"] >= 1
    assert_consistent(world, tid)


def test_asking_again_while_still_pending_writes_nothing(world: World) -> None:
    from datetime import timedelta

    tid = world.pay(amount=10_000)
    outcome = refund(world, tid, 1_000, metadata={"simulate": "pending"})
    before = len(get_audit(world.store, tid).records)
    from refund_service.domain.processor import ProcessorCode, normalized
    from refund_service.service.settlement import settle

    still = normalized(ProcessorCode.PENDING, "simulated")
    settle(world.services, tid, outcome.refund.refund_id, still, USER)
    assert len(get_audit(world.store, tid).records) == before
    assert get_refund(world.store, outcome.refund.refund_id).refund.processor["processor_reference"]
    world.clock.advance(minutes=1)
    assert reconcile(world.services, timedelta(0), timedelta(hours=1)).succeeded


def test_an_answer_the_ledger_is_too_busy_to_book_is_kept_and_booked_without_asking_again(
    world: World,
) -> None:
    from dataclasses import replace
    from datetime import timedelta

    from refund_service.service.ports import ConcurrentUpdateError

    tid = world.pay(amount=10_000)
    store = world.services.store

    class BusyAfterReserving:
        commits = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def commit(self, change: Any) -> None:
            BusyAfterReserving.commits += 1
            if BusyAfterReserving.commits > 1:
                raise ConcurrentUpdateError("always someone else")
            store.commit(change)

    world.services.store = BusyAfterReserving()  # type: ignore[assignment]
    world.services.policy = replace(world.services.policy, max_contention_seconds=0.0)
    outcome = refund(world, tid, 2_500, metadata={"simulate": "decline"})
    world.services.store = store
    # the processor declined; the ledger could not book it yet: the client hears the decline
    assert outcome.refund.status is RefundStatus.FAILED
    assert outcome.result.code.value == "DECLINED"
    assert world.store.load(tid).kept_outcomes[f"{tid}-REFUND"]["code"] == "DECLINED"
    processor = world.services.processor
    lookups: list[str] = []

    class Watched:
        name = processor.name

        def __getattr__(self, name: str) -> Any:
            return getattr(processor, name)

        def lookup(self, request: Any) -> Any:
            lookups.append(request.refund_id)
            return processor.lookup(request)

    world.services.processor = Watched()  # type: ignore[assignment]
    world.clock.advance(minutes=10)
    reconcile(world.services, timedelta(minutes=5), timedelta(hours=1))
    summary = world.store.load(tid).summary
    assert (summary.refunded_amount, summary.pending_refund_amount) == (0, 0)
    assert get_refund(world.store, f"{tid}-REFUND").refund.status is RefundStatus.FAILED
    assert lookups == []  # booked from the kept answer, the processor was not asked again


def test_endless_contention_ends_in_a_retryable_refusal_not_a_hang(world: World) -> None:
    from dataclasses import replace

    from refund_service.service.ports import ConcurrentUpdateError

    tid = world.pay(amount=10_000)
    store = world.services.store

    class AlwaysLosing:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def commit(self, change: Any) -> None:
            raise ConcurrentUpdateError("someone else, again")

    world.services.store = AlwaysLosing()  # type: ignore[assignment]
    world.services.policy = replace(world.services.policy, max_contention_seconds=0.05)
    world.services.sleep = lambda seconds: time.sleep(min(seconds, 0.01))
    started = time.monotonic()
    with pytest.raises(DomainError) as refused:
        refund(world, tid, 100)
    assert refused.value.code is ErrorCode.LEDGER_CONTENTION
    assert time.monotonic() - started < 5
    world.services.store = store
    assert world.store.load(tid).summary.pending_refund_amount == 0
