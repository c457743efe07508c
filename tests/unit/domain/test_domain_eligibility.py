"""Step 2 of the workflow: every refusal and its error code, and the amount that may go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from refund_service.domain.chargeback import Chargeback, ChargebackStatus
from refund_service.domain.eligibility import (
    DEFAULT_REFUND_WINDOW_DAYS,
    RefundPolicy,
    check_refundable,
)
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.ledger import (
    Entry,
    EntryContext,
    PaymentStatus,
    PaymentTerms,
    RefundAmounts,
    chargeback_entry,
    payment_entry,
    refund_pending_entry,
    refund_success_entry,
    tax_entry,
)
from refund_service.domain.summary import Summary, fold

TID = "txn-elig-1"
CAPTURED = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
SOON = CAPTURED + timedelta(days=3)
POLICY = RefundPolicy()


def history(status: PaymentStatus = PaymentStatus.COMPLETED, gross: int = 10_000) -> list[Entry]:
    ctx = EntryContext(TID, 1, CAPTURED.isoformat(), "USD")
    entries = [payment_entry(ctx, PaymentTerms(gross, status, CAPTURED.isoformat()))]
    if status is PaymentStatus.COMPLETED:
        entries.append(tax_entry(ctx.next(), gross // 10))
    return entries


def add(entries: list[Entry], builder: Callable[..., Entry], *args: Any) -> list[Entry]:
    ctx = EntryContext(TID, len(entries) + 1, CAPTURED.isoformat(), "USD")
    return [*entries, builder(ctx, *args)]


def refund(n: int, amount: int) -> RefundAmounts:
    suffix = "" if n == 1 else f"-{n}"
    return RefundAmounts(f"{TID}-REFUND{suffix}", amount, amount // 10, 0)


def summary_of(entries: list[Entry]) -> Summary:
    return fold(TID, entries)


def allowed(
    summary: Summary,
    amount: int | None,
    now: datetime = SOON,
    policy: RefundPolicy = POLICY,
    chargebacks: dict[str, Chargeback] | None = None,
) -> int:
    """What the workflow does: the payment checked once, then the amount asked of it."""
    return check_refundable(summary, chargebacks or {}, now, policy).take(amount)


def refused(summary: Summary, amount: int | None, **conditions: Any) -> DomainError:
    with pytest.raises(DomainError) as raised:
        allowed(summary, amount, **conditions)
    return raised.value


def test_unknown_transaction_is_not_found() -> None:
    error = refused(Summary(TID), 100)
    assert error.code is ErrorCode.TRANSACTION_NOT_FOUND
    assert error.details["transaction_id"] == TID


def test_pending_payment_must_complete_first() -> None:
    error = refused(summary_of(history(PaymentStatus.PENDING)), 100)
    assert error.code is ErrorCode.TRANSACTION_PENDING


@pytest.mark.parametrize("status", [PaymentStatus.FAILED, PaymentStatus.VOIDED])
def test_failed_or_voided_payment_is_not_refundable(status: PaymentStatus) -> None:
    error = refused(summary_of(history(status)), 100)
    assert error.code is ErrorCode.TRANSACTION_NOT_REFUNDABLE
    assert error.details["payment_status"] == status.value


def test_chargeback_conflicts_with_a_refund() -> None:
    # Given a completed payment with a partial chargeback
    entries = add(history(), chargeback_entry, 2_000)
    # Then no refund is possible, not even of the undisputed part
    error = refused(summary_of(entries), 100)
    assert error.code is ErrorCode.CHARGEBACK_CONFLICT


def test_fully_refunded_payment_is_already_refunded() -> None:
    entries = add(history(), refund_pending_entry, refund(1, 10_000))
    entries = add(entries, refund_success_entry, refund(1, 10_000))
    error = refused(summary_of(entries), None)
    assert error.code is ErrorCode.ALREADY_REFUNDED
    assert error.details["remaining_refundable"] == 0


def test_fully_reserved_by_pending_refunds_leaves_nothing_to_refund() -> None:
    entries = add(history(), refund_pending_entry, refund(1, 4_000))
    entries = add(entries, refund_pending_entry, refund(2, 6_000))
    error = refused(summary_of(entries), 1)
    assert error.code is ErrorCode.ALREADY_REFUNDED


def test_default_window_is_180_days_from_capture() -> None:
    summary = summary_of(history())
    assert DEFAULT_REFUND_WINDOW_DAYS == 180
    # day 180 is still inside
    assert allowed(summary, 100, CAPTURED + timedelta(days=180), POLICY) == 100
    # day 181 is not
    error = refused(summary, 100, now=CAPTURED + timedelta(days=181))
    assert error.code is ErrorCode.REFUND_WINDOW_EXPIRED
    assert error.details["refund_deadline"] == (CAPTURED + timedelta(days=180)).isoformat()


@pytest.mark.parametrize("days", [7, 30, 365])
def test_custom_window(days: int) -> None:
    summary = summary_of(history())
    policy = RefundPolicy(window_days=days)
    assert allowed(summary, 100, CAPTURED + timedelta(days=days), policy) == 100
    error = refused(summary, 100, now=CAPTURED + timedelta(days=days + 1), policy=policy)
    assert error.code is ErrorCode.REFUND_WINDOW_EXPIRED
    assert str(days) in error.message


def test_window_longer_than_default_accepts_day_181() -> None:
    summary = summary_of(history())
    assert allowed(summary, 1, CAPTURED + timedelta(days=181), RefundPolicy(365)) == 1


def test_amount_above_what_remains_is_refused_with_the_remainder() -> None:
    # Given 10000 captured, 3000 refunded and 2500 pending: 4500 remain
    entries = add(history(), refund_pending_entry, refund(1, 3_000))
    entries = add(entries, refund_success_entry, refund(1, 3_000))
    entries = add(entries, refund_pending_entry, refund(2, 2_500))
    summary = summary_of(entries)
    # Then exactly the remainder is accepted and one unit more is refused
    assert allowed(summary, 4_500, SOON, POLICY) == 4_500
    error = refused(summary, 4_501)
    assert error.code is ErrorCode.AMOUNT_EXCEEDS_REFUNDABLE
    assert error.details["remaining_refundable"] == 4_500
    assert error.details["requested"] == 4_501


def test_no_amount_means_all_that_is_refundable() -> None:
    entries = add(history(), refund_pending_entry, refund(1, 1_234))
    assert allowed(summary_of(entries), None, SOON, POLICY) == 10_000 - 1_234
    assert allowed(summary_of(history()), None, SOON, POLICY) == 10_000


@pytest.mark.parametrize("amount", [0, -1, -10_000])
def test_amount_must_be_positive(amount: int) -> None:
    error = refused(summary_of(history()), amount)
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert error.details == {"field": "amount"}


def test_partial_amount_is_returned_unchanged() -> None:
    assert allowed(summary_of(history()), 1, SOON, POLICY) == 1
    assert allowed(summary_of(history()), 10_000, SOON, POLICY) == 10_000


def test_refusals_come_in_the_workflow_order() -> None:
    # a pending payment is reported as pending even with a chargeback recorded
    pending = replace(summary_of(history(PaymentStatus.PENDING)), chargeback_amount=5)
    assert refused(pending, 100).code is ErrorCode.TRANSACTION_PENDING
    # an expired window is reported before an excessive amount
    expired = refused(summary_of(history()), 10**9, now=CAPTURED + timedelta(days=400))
    assert expired.code is ErrorCode.REFUND_WINDOW_EXPIRED


def open_dispute(booked: int) -> dict[str, Chargeback]:
    return {"dp_1": Chargeback("dp_1", booked, ChargebackStatus.OPEN, CAPTURED.isoformat())}


def test_an_open_dispute_conflicts_even_when_it_booked_nothing() -> None:
    # Given a dispute still open that books nothing (another held the amount when it came)
    summary = summary_of(history())
    # Then nothing is refundable while it stands
    error = refused(summary, 100, chargebacks=open_dispute(0))
    assert error.code is ErrorCode.CHARGEBACK_CONFLICT
    assert error.details["transaction_id"] == TID
    # and once it is won or lost the payment is refundable again
    won = {"dp_1": replace(open_dispute(0)["dp_1"], status=ChargebackStatus.WON)}
    assert allowed(summary, 100, chargebacks=won) == 100


def test_an_open_dispute_is_reported_after_the_window_and_before_the_amount() -> None:
    summary = summary_of(history())
    late = CAPTURED + timedelta(days=181)
    expired = refused(summary, 100, now=late, chargebacks=open_dispute(0))
    assert expired.code is ErrorCode.REFUND_WINDOW_EXPIRED
    assert refused(summary, 10**9, chargebacks=open_dispute(0)).code is (
        ErrorCode.CHARGEBACK_CONFLICT
    )


def test_the_payment_is_checked_once_and_the_amount_after() -> None:
    # The amount is only looked at once the payment itself may be refunded: the service
    # converts a foreign-currency request in between.
    refundable = check_refundable(summary_of(history()), {}, SOON, POLICY)
    assert refundable.remaining == 10_000
    assert refundable.take(None) == 10_000
    assert refundable.take(2_500) == 2_500
    with pytest.raises(DomainError) as raised:
        refundable.take(10_001)
    assert raised.value.code is ErrorCode.AMOUNT_EXCEEDS_REFUNDABLE
