"""The summary is derived state: the fold of the entries, checked by `verify`.

Random histories are written the way the service writes them: shares from `allocate_refund` on
the Summary's running totals, entries from the builders, rollback as REVERSAL entries of the
refund's own entries in reverse order. An independent model of the refunds says what the
summary must show.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refund_service.domain.allocation import FeePolicy, allocate_refund
from refund_service.domain.fx import fx_difference
from refund_service.domain.ids import refund_id
from refund_service.domain.ledger import (
    Entry,
    EntryContext,
    EntryType,
    FxQuote,
    PaymentStatus,
    PaymentTerms,
    RefundAmounts,
    chargeback_entry,
    chargeback_reversal_entry,
    fee_entry,
    fee_reversal_entry,
    fx_adjustment_entry,
    payment_entry,
    refund_pending_entry,
    refund_success_entry,
    refund_void_entry,
    reversal_entry,
    tax_entry,
)
from refund_service.domain.summary import (
    Mismatch,
    Summary,
    SummaryStatus,
    apply,
    fold,
    invariant_violations,
    limit_violations,
    structural_violations,
    verify,
)

TID = "txn-sum-1"
CAPTURED_AT = "2024-02-01T08:00:00+00:00"
CAPTURE_RATE = "1.0837"


@dataclass
class Refund:
    amounts: RefundAmounts
    state: str = "pending"  # pending | succeeded | voided | rolled_back
    fx_difference: int = 0
    entries: list[Entry] = field(default_factory=list)


class Book:
    """A transaction's ledger, written through the builders, with the summary kept by `apply`."""

    def __init__(self, currency: str, settlement: str | None, policy: FeePolicy) -> None:
        self.currency = currency
        self.settlement = settlement
        self.policy = policy
        self.entries: list[Entry] = []
        self.summary = Summary(TID)
        self.refunds: list[Refund] = []
        self.chargebacks: list[Entry] = []  # live ones

    def add(self, builder: Callable[..., Entry], *args: Any, **kwargs: Any) -> Entry:
        seq = self.summary.version + 1
        ctx = EntryContext(TID, seq, f"2024-02-02T00:00:{seq % 60:02d}+00:00", self.currency)
        entry = builder(ctx, *args, **kwargs)
        self.summary = apply(self.summary, entry)
        self.entries.append(entry)
        return entry

    def open(self, gross: int, tax: int, fee: int, status: PaymentStatus, two_step: bool) -> None:
        def terms(s: PaymentStatus) -> PaymentTerms:
            return PaymentTerms(
                gross,
                s,
                CAPTURED_AT,
                tax_amount=tax,
                fee_amount=fee,
                settlement_currency=self.settlement,
                fx_rate=CAPTURE_RATE if self.settlement else None,
            )

        if two_step and status is PaymentStatus.COMPLETED:
            self.add(payment_entry, terms(PaymentStatus.PENDING))
            self.add(payment_entry, terms(PaymentStatus.COMPLETED), capture=True)
        else:
            self.add(payment_entry, terms(status))
        if status is PaymentStatus.COMPLETED:
            self.add(tax_entry, tax)
            self.add(fee_entry, fee)

    def reserve(self, amount: int) -> None:
        s = self.summary
        shares = allocate_refund(s, amount, self.policy)
        amounts = RefundAmounts(refund_id(TID, s.refund_count + 1), amount, shares.tax, shares.fee)
        refund = Refund(amounts)
        refund.entries.append(self.add(refund_pending_entry, amounts))
        self.refunds.append(refund)

    def succeed(self, refund: Refund, current_rate: str) -> None:
        refund.entries.append(self.add(refund_success_entry, refund.amounts))
        if refund.amounts.fee:
            refund.entries.append(self.add(fee_reversal_entry, refund.amounts))
        if self.settlement:
            difference = fx_difference(
                refund.amounts.amount,
                self.currency,
                self.settlement,
                Decimal(CAPTURE_RATE),
                Decimal(current_rate),
            )
            quote = FxQuote(self.currency, self.settlement, current_rate, "test", "2024-02-02")
            entry = self.add(
                fx_adjustment_entry, refund.amounts.refund_id, difference, self.settlement, quote
            )
            refund.entries.append(entry)
            refund.fx_difference = difference
        refund.state = "succeeded"

    def void(self, refund: Refund) -> None:
        self.add(refund_void_entry, refund.amounts)
        refund.state = "voided"

    def roll_back(self, refund: Refund) -> None:
        for original in reversed(refund.entries):
            self.add(reversal_entry, original, "recorded in error")
        refund.state = "rolled_back"

    def chargeback(self, amount: int) -> None:
        self.chargebacks.append(self.add(chargeback_entry, amount))

    def chargeback_reversed(self, index: int) -> None:
        won = self.chargebacks.pop(index)
        self.add(chargeback_reversal_entry, won.amount, won.reference or "cb")

    # -- what the summary must say, from the model alone --------------------------------------

    def _total(self, state: str, attr: str) -> int:
        return sum(getattr(r.amounts, attr) for r in self.refunds if r.state == state)

    def expected(self) -> dict[str, int]:
        return {
            "refunded_amount": self._total("succeeded", "amount"),
            "tax_refunded_amount": self._total("succeeded", "tax"),
            "fee_refunded_amount": self._total("succeeded", "fee"),
            "pending_refund_amount": self._total("pending", "amount"),
            "pending_tax_amount": self._total("pending", "tax"),
            "pending_fee_amount": self._total("pending", "fee"),
            "chargeback_amount": sum(e.amount for e in self.chargebacks),
            "fx_adjustment_amount": sum(
                r.fx_difference for r in self.refunds if r.state == "succeeded"
            ),
            "refund_count": len(self.refunds),
            "version": len(self.entries),
        }


@st.composite
def histories(draw: st.DrawFn) -> Book:
    currency, settlement = draw(
        st.sampled_from([("USD", None), ("EUR", "USD"), ("JPY", None), ("KWD", None)])
    )
    book = Book(currency, settlement, draw(st.sampled_from(list(FeePolicy))))
    gross = draw(st.one_of(st.integers(1, 100), st.integers(1, 10**9)))
    # a pending payment cannot be refunded; it appears here as the first step of a capture
    status = draw(
        st.sampled_from(
            [PaymentStatus.COMPLETED] * 4 + [PaymentStatus.FAILED, PaymentStatus.VOIDED]
        )
    )
    book.open(
        gross,
        draw(st.integers(0, gross)),
        draw(st.integers(0, gross)),
        status,
        draw(st.booleans()),
    )
    if status is not PaymentStatus.COMPLETED:
        return book
    for _ in range(draw(st.integers(0, 14))):
        s = book.summary
        pending = [r for r in book.refunds if r.state == "pending"]
        succeeded = [r for r in book.refunds if r.state == "succeeded"]
        # weighted: refunds are the common case, chargebacks the rare one
        actions = []
        if s.refundable_amount and not book.chargebacks:
            actions += ["reserve"] * 4
        if pending:
            actions += ["succeed"] * 3 + ["void"]
        if succeeded:
            actions.append("roll_back")
        if not book.chargebacks:  # a dispute is a fact, whatever was refunded or is pending
            actions.append("chargeback")
        if book.chargebacks:
            actions.append("chargeback_reversed")
        if not actions:
            break
        action = draw(st.sampled_from(actions))
        if action == "reserve":
            amount = st.integers(1, s.refundable_amount) | st.just(s.refundable_amount)
            book.reserve(draw(amount))
        elif action == "succeed":
            rate = draw(st.sampled_from(["1.0837", "1.05", "1.2", "1.091234"]))
            book.succeed(draw(st.sampled_from(pending)), rate)
        elif action == "void":
            book.void(draw(st.sampled_from(pending)))
        elif action == "roll_back":
            book.roll_back(draw(st.sampled_from(succeeded)))
        elif action == "chargeback":
            book.chargeback(draw(st.integers(1, s.captured_amount)))
        else:
            book.chargeback_reversed(draw(st.integers(0, len(book.chargebacks) - 1)))
        assert structural_violations(book.summary) == [], action
        assert limit_violations(book.summary) == [], action
    return book


def expected_status(book: Book) -> SummaryStatus:
    s = book.summary
    if s.payment_status in (PaymentStatus.FAILED, PaymentStatus.VOIDED):
        return SummaryStatus.FAILED
    refunded = book.expected()["refunded_amount"]
    if refunded + book.expected()["chargeback_amount"] > s.captured_amount:
        return SummaryStatus.OVER_REFUNDED
    if book.chargebacks:
        return SummaryStatus.CHARGEBACK
    if refunded == s.captured_amount:
        return SummaryStatus.REFUNDED
    return SummaryStatus.PARTIALLY_REFUNDED if refunded else SummaryStatus.COMPLETED


@settings(max_examples=100, deadline=None)
@given(histories())
def test_fold_equals_the_incremental_summary_and_the_model(book: Book) -> None:
    # When the entries are folded from scratch, in any storage order
    shuffled = list(book.entries)
    random.Random(len(shuffled)).shuffle(shuffled)
    # Then the result is the summary kept one entry at a time
    assert fold(TID, book.entries) == book.summary
    assert fold(TID, shuffled) == book.summary
    # And it says what the refunds and chargebacks say
    s = book.summary
    for name, value in book.expected().items():
        assert getattr(s, name) == value, name
    assert s.status is expected_status(book)
    if s.payment_status is PaymentStatus.COMPLETED and book.chargebacks:
        assert s.refundable_amount == 0  # nothing is refundable while a chargeback stands
    elif s.payment_status is PaymentStatus.COMPLETED:
        assert s.refundable_amount == s.captured_amount - s.reserved_amount
        assert s.currency == book.currency
        assert s.captured_at == CAPTURED_AT
        assert s.fx_rate == (CAPTURE_RATE if book.settlement else None)
    else:
        assert s.refundable_amount == 0


@settings(max_examples=100, deadline=None)
@given(histories())
def test_every_valid_history_keeps_the_invariants(book: Book) -> None:
    s = book.summary
    assert invariant_violations(s) == []
    assert s.refunded_amount + s.pending_refund_amount <= s.captured_amount
    assert s.tax_taken <= s.tax_amount
    assert s.fee_taken <= s.fee_amount
    assert len({e.seq for e in book.entries}) == len(book.entries)


def _altered(value: Any) -> Any:
    if isinstance(value, PaymentStatus):
        return next(s for s in PaymentStatus if s is not value)
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    assert value is None
    return "XYZ"


SUMMARY_FIELDS = [f.name for f in fields(Summary)]


@settings(max_examples=100, deadline=None)
@given(book=histories(), name=st.sampled_from(SUMMARY_FIELDS))
def test_verify_names_the_altered_field(book: Book, name: str) -> None:
    # Given the right stored summary, verify finds nothing
    assert verify(book.summary, book.entries) is None
    assert verify(book.summary, reversed(book.entries)) is None
    # When one stored field is altered
    original = getattr(book.summary, name)
    stored = replace(book.summary, **{name: _altered(original)})
    # Then verify reports exactly that field, with both values
    mismatch = verify(stored, book.entries)
    assert mismatch is not None
    assert mismatch.field == name
    assert mismatch.stored == getattr(stored, name)
    assert mismatch.recomputed == original


@settings(max_examples=100, deadline=None)
@given(book=histories(), data=st.data())
def test_verify_reports_a_gap_or_a_duplicate_in_the_sequence(
    book: Book, data: st.DataObject
) -> None:
    entries = book.entries
    if len(entries) >= 2:
        # When any entry but the last is missing
        gone = data.draw(st.integers(0, len(entries) - 2), label="dropped")
        mismatch = verify(book.summary, entries[:gone] + entries[gone + 1 :])
        # Then verify reports the gap at its place
        assert mismatch == Mismatch(TID, "seq", gone + 1, gone + 2)
    # When an entry appears twice
    twice = data.draw(st.sampled_from(entries), label="duplicated")
    mismatch = verify(book.summary, [*entries, twice])
    assert mismatch is not None
    assert mismatch.field == "seq"
    # When the last entry is missing, the stored summary is ahead of the entries
    mismatch = verify(book.summary, entries[:-1])
    assert mismatch is not None


def test_verify_refuses_entries_of_another_transaction() -> None:
    book = Book("USD", None, FeePolicy.NONE)
    book.open(1000, 100, 30, PaymentStatus.COMPLETED, two_step=False)
    other = replace(book.summary, transaction_id="txn-other")
    mismatch = verify(other, book.entries)
    assert mismatch is not None
    assert mismatch.field == "transaction_id"


def test_apply_refuses_entries_out_of_order() -> None:
    book = Book("USD", None, FeePolicy.NONE)
    book.open(1000, 100, 30, PaymentStatus.COMPLETED, two_step=False)
    first, second, third = book.entries
    with pytest.raises(ValueError, match="out of order"):
        apply(apply(Summary(TID), first), third)
    with pytest.raises(ValueError, match="out of order"):
        apply(book.summary, second)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"refunded_amount": 600, "pending_refund_amount": 401}, "exceeds captured"),
        ({"pending_refund_amount": -1}, "pending_refund_amount is negative"),
        ({"tax_refunded_amount": 101}, "tax refunded exceeds tax"),
        ({"pending_tax_amount": 60, "tax_refunded_amount": 41}, "tax refunded exceeds tax"),
        ({"fee_refunded_amount": 31}, "fee refunded exceeds fee"),
        ({"chargeback_amount": -5}, "chargeback_amount is negative"),
    ],
)
def test_invariant_violations_names_each_broken_invariant(
    changes: dict[str, int], problem: str
) -> None:
    book = Book("USD", None, FeePolicy.PROPORTIONAL)
    book.open(1000, 100, 30, PaymentStatus.COMPLETED, two_step=False)
    assert invariant_violations(book.summary) == []
    broken = replace(book.summary, **changes)
    assert any(problem in p for p in invariant_violations(broken)), invariant_violations(broken)


def test_negative_fx_adjustment_is_a_gain_not_a_violation() -> None:
    book = Book("EUR", "USD", FeePolicy.NONE)
    book.open(1000, 0, 0, PaymentStatus.COMPLETED, two_step=False)
    book.reserve(1000)
    book.succeed(book.refunds[0], "1.05")  # 10.8370 -> 10.50: the refund costs 34 cents less
    assert book.summary.fx_adjustment_amount == -34
    assert invariant_violations(book.summary) == []


def test_rollback_of_a_succeeded_refund_restores_the_summary_before_it() -> None:
    # Given a payment with one partial refund that succeeded, with fee and FX
    book = Book("EUR", "USD", FeePolicy.PROPORTIONAL)
    book.open(1000, 200, 50, PaymentStatus.COMPLETED, two_step=False)
    before = book.summary
    book.reserve(250)
    book.succeed(book.refunds[0], "1.2")
    assert book.summary.status is SummaryStatus.PARTIALLY_REFUNDED
    assert [e.type for e in book.entries[-3:]] == [
        EntryType.REFUND_PAID,
        EntryType.FEE_REVERSAL,
        EntryType.FX_ADJUSTMENT,
    ]
    # When it is rolled back
    book.roll_back(book.refunds[0])
    # Then REVERSALs undo FX, fee reversal, success and pending, newest first
    assert [e.reverses_type for e in book.entries[-4:]] == [
        EntryType.FX_ADJUSTMENT,
        EntryType.FEE_REVERSAL,
        EntryType.REFUND_PAID,
        EntryType.REFUND_PENDING,
    ]
    # And every total is back where it was; only the version and the refund count moved on
    after = book.summary
    assert replace(after, version=before.version, refund_count=0) == before
    assert after.refund_count == 1
    assert after.status is SummaryStatus.COMPLETED
