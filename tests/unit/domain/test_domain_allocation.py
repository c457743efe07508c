"""Cumulative tax and fee allocation of partial refunds (SPEC section 2).

The properties drive the real path: shares come from `allocate_refund` fed with the running
totals the Summary keeps, entries come from the ledger builders, and the Summary is the fold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from fractions import Fraction
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refund_service.domain.allocation import (
    FeePolicy,
    RefundShares,
    allocate_refund,
    cumulative_share,
)
from refund_service.domain.ids import refund_id
from refund_service.domain.ledger import (
    Account,
    Direction,
    Entry,
    EntryContext,
    PaymentStatus,
    PaymentTerms,
    RefundAmounts,
    fee_entry,
    fee_reversal_entry,
    payment_entry,
    refund_pending_entry,
    refund_success_entry,
    refund_void_entry,
    tax_entry,
)
from refund_service.domain.summary import Summary, SummaryStatus, apply, fold, invariant_violations

TID = "txn-alloc-1"
CURRENCY = "USD"
CAPTURED_AT = "2024-01-02T10:00:00+00:00"

# Credit-normal accounts are positive when credited; debit-normal ones when debited.
CREDIT_NORMAL = {Account.MERCHANT_REVENUE, Account.TAX_PAYABLE, Account.REFUND_CLEARING}


class Book:
    """A payment's ledger, written through the builders and folded with `apply`."""

    def __init__(self, gross: int, tax: int, fee: int, policy: FeePolicy) -> None:
        self.policy = policy
        self.entries: list[Entry] = []
        self.summary = Summary(TID)
        self.shares: list[RefundShares] = []
        self._add(payment_entry, PaymentTerms(gross, PaymentStatus.COMPLETED, CAPTURED_AT))
        self._add(tax_entry, tax)
        self._add(fee_entry, fee)

    def _add(self, builder: Callable[..., Entry], *args: Any) -> Entry:
        ctx = EntryContext(TID, self.summary.version + 1, CAPTURED_AT, CURRENCY)
        entry = builder(ctx, *args)
        self.summary = apply(self.summary, entry)
        self.entries.append(entry)
        return entry

    def reserve(self, amount: int) -> RefundAmounts:
        s = self.summary
        shares = allocate_refund(s, amount, self.policy)
        self.shares.append(shares)
        refund = RefundAmounts(refund_id(TID, s.refund_count + 1), amount, shares.tax, shares.fee)
        self._add(refund_pending_entry, refund)
        return refund

    def succeed(self, refund: RefundAmounts) -> None:
        self._add(refund_success_entry, refund)
        if refund.fee:
            self._add(fee_reversal_entry, refund)

    def void(self, refund: RefundAmounts) -> None:
        self._add(refund_void_entry, refund)

    def balances(self) -> dict[Account, int]:
        """Each account's balance on its normal side, from the postings alone."""
        totals: dict[Account, int] = defaultdict(int)
        for entry in self.entries:
            for p in entry.postings:
                sign = 1 if p.direction is Direction.DEBIT else -1
                if p.account in CREDIT_NORMAL:
                    sign = -sign
                totals[p.account] += sign * p.amount
        return totals


def exact_round(numerator: int, denominator: int) -> int:
    return round(Fraction(numerator, denominator))  # half to even, exactly


def assert_no_component_below_zero(book: Book, gross: int, tax: int, fee: int) -> None:
    s = book.summary
    assert 0 <= s.tax_taken <= tax
    assert 0 <= s.fee_taken <= fee
    # the revenue net of tax never gives back more than it received
    assert s.reserved_amount - s.tax_taken <= gross - tax
    balances = book.balances()
    assert balances[Account.TAX_PAYABLE] == tax - s.tax_taken >= 0
    assert balances[Account.MERCHANT_REVENUE] == (gross - tax) - (s.reserved_amount - s.tax_taken)
    assert balances[Account.MERCHANT_REVENUE] >= 0
    assert balances[Account.PROCESSOR_FEES] == fee - s.fee_refunded_amount >= 0
    assert invariant_violations(s) == []


@st.composite
def payments(draw: st.DrawFn) -> tuple[int, int, int]:
    gross = draw(st.one_of(st.integers(1, 50), st.integers(1, 10**10)))
    tax = draw(st.integers(0, gross))
    fee = draw(st.integers(0, gross))
    return gross, tax, fee


@st.composite
def partitions(draw: st.DrawFn, total: int) -> list[int]:
    """`total` cut into 1 to 12 positive parts."""
    if total == 1:
        return [1]
    cuts = draw(
        st.lists(st.integers(1, total - 1), unique=True, max_size=min(11, total - 1)).map(sorted)
    )
    bounds = [0, *cuts, total]
    return [b - a for a, b in pairwise(bounds)]


@settings(max_examples=100, deadline=None)
@given(payment=payments(), policy=st.sampled_from(list(FeePolicy)), data=st.data())
def test_partial_refunds_adding_up_to_the_gross_reverse_every_component_exactly(
    payment: tuple[int, int, int], policy: FeePolicy, data: st.DataObject
) -> None:
    # Given a captured payment with tax and fee
    gross, tax, fee = payment
    book = Book(gross, tax, fee, policy)
    parts = data.draw(partitions(gross), label="parts")
    pending: list[RefundAmounts] = []
    reserved = 0

    # When refunds adding up to the gross are reserved one by one, some settled on the way
    for amount in parts:
        refund = book.reserve(amount)
        reserved += amount
        pending.append(refund)
        shares = book.shares[-1]
        assert 0 <= shares.tax <= amount
        assert shares.fee >= 0
        if policy is FeePolicy.NONE:
            assert shares.fee == 0
        # Then what is taken so far is the cumulative share, round(component * r / g)
        s = book.summary
        assert s.tax_taken == exact_round(tax * reserved, gross)
        expected_fee = exact_round(fee * reserved, gross) if policy is FeePolicy.PROPORTIONAL else 0
        assert s.fee_taken == expected_fee
        assert_no_component_below_zero(book, gross, tax, fee)
        settle = data.draw(st.lists(st.booleans(), min_size=len(pending), max_size=len(pending)))
        for refund_, now in zip(list(pending), settle, strict=True):
            if now:
                book.succeed(refund_)
                pending.remove(refund_)
                assert_no_component_below_zero(book, gross, tax, fee)
    for refund_ in pending:
        book.succeed(refund_)

    # Then every component is reversed exactly
    s = book.summary
    assert s.refunded_amount == gross
    assert s.pending_refund_amount == s.pending_tax_amount == s.pending_fee_amount == 0
    assert s.tax_refunded_amount == tax
    assert sum(x.tax for x in book.shares) == tax
    if policy is FeePolicy.PROPORTIONAL:
        assert s.fee_refunded_amount == fee
    else:
        assert s.fee_refunded_amount == 0
        assert all(x.fee == 0 for x in book.shares)
    assert s.status is SummaryStatus.REFUNDED
    balances = book.balances()
    assert balances[Account.TAX_PAYABLE] == 0
    assert balances[Account.MERCHANT_REVENUE] == 0
    assert balances[Account.REFUND_CLEARING] == 0
    assert balances[Account.PROCESSOR_FEES] == (0 if policy is FeePolicy.PROPORTIONAL else fee)
    assert fold(TID, book.entries) == s


@settings(max_examples=100, deadline=None)
@given(payment=payments(), policy=st.sampled_from(list(FeePolicy)), data=st.data())
def test_voided_refunds_release_their_shares_and_the_rest_still_adds_up(
    payment: tuple[int, int, int], policy: FeePolicy, data: st.DataObject
) -> None:
    # Given a payment and a random history of reservations, successes and voids
    gross, tax, fee = payment
    book = Book(gross, tax, fee, policy)
    pending: list[RefundAmounts] = []
    for _ in range(data.draw(st.integers(0, 12), label="steps")):
        refundable = book.summary.refundable_amount
        actions = (["reserve"] if refundable else []) + (["succeed", "void"] if pending else [])
        if not actions:
            break
        action = data.draw(st.sampled_from(actions))
        if action == "reserve":
            amount = data.draw(st.integers(1, refundable))
            pending.append(book.reserve(amount))
            share = book.shares[-1]
            assert 0 <= share.tax <= amount
            assert share.fee >= 0
            assert policy is FeePolicy.PROPORTIONAL or share.fee == 0
        else:
            refund = pending.pop(data.draw(st.integers(0, len(pending) - 1)))
            (book.succeed if action == "succeed" else book.void)(refund)
        # Then no component is ever driven below zero
        assert_no_component_below_zero(book, gross, tax, fee)

    # When the pending refunds settle and the remainder is refunded
    for refund in pending:
        book.succeed(refund)
    if book.summary.refundable_amount:
        book.succeed(book.reserve(book.summary.refundable_amount))
        assert_no_component_below_zero(book, gross, tax, fee)

    # Then the live refunds add up to the gross and reverse tax and fee exactly
    s = book.summary
    assert s.refunded_amount == gross
    assert s.tax_refunded_amount == tax
    assert s.fee_refunded_amount == (fee if policy is FeePolicy.PROPORTIONAL else 0)
    assert book.balances()[Account.TAX_PAYABLE] == 0
    assert book.balances()[Account.MERCHANT_REVENUE] == 0


def _shares(parts: list[int], gross: int, tax: int, fee: int, policy: FeePolicy) -> list[tuple]:
    book = Book(gross, tax, fee, policy)
    for amount in parts:
        book.reserve(amount)
    return [(x.tax, x.fee) for x in book.shares]


def test_thirds_worked_by_hand() -> None:
    # Given gross 1000 with tax 100 and fee 30, refunded in 333 + 333 + 334
    # Then cumulative tax targets are round(33.3)=33, round(66.6)=67, 100 -> shares 33, 34, 33
    # and cumulative fee targets round(9.99)=10, round(19.98)=20, 30 -> shares 10, 10, 10
    assert _shares([333, 333, 334], 1000, 100, 30, FeePolicy.PROPORTIONAL) == [
        (33, 10),
        (34, 10),
        (33, 10),
    ]
    assert _shares([333, 333, 334], 1000, 100, 30, FeePolicy.NONE) == [(33, 0), (34, 0), (33, 0)]


def test_ties_round_half_even_cumulatively() -> None:
    # Given gross 4 with tax 2 refunded one unit at a time: targets 0.5, 1, 1.5, 2
    # round half even gives 0, 1, 2, 2 -> shares 0, 1, 1, 0
    assert _shares([1, 1, 1, 1], 4, 2, 0, FeePolicy.NONE) == [(0, 0), (1, 0), (1, 0), (0, 0)]
    # a single refund of 3 out of 4 (target 1.5 -> 2), then the last unit (target 2)
    assert _shares([3, 1], 4, 2, 0, FeePolicy.NONE) == [(2, 0), (0, 0)]


def test_share_after_a_void_makes_up_what_the_void_released() -> None:
    # Given gross 3, tax 2: refund A of 1 takes round(2/3)=1, refund B of 1 takes round(4/3)-1=0
    book = Book(3, 2, 0, FeePolicy.NONE)
    a = book.reserve(1)
    book.reserve(1)
    assert [x.tax for x in book.shares] == [1, 0]
    # When A is voided, B alone holds no tax
    book.void(a)
    assert book.summary.tax_taken == 0
    # Then the next refund of 2 brings the reserved total to 3 and takes all the tax
    book.reserve(2)
    assert book.shares[-1].tax == 2
    assert book.summary.tax_taken == 2


@pytest.mark.parametrize(("gross", "reserved_total"), [(0, 0), (-5, 0), (100, 101), (100, -1)])
def test_cumulative_share_refuses_impossible_totals(gross: int, reserved_total: int) -> None:
    with pytest.raises(ValueError):
        cumulative_share(10, gross, reserved_total, 0)
