"""Double entry: every journal a builder makes balances per currency; nothing else gets in."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refund_service.domain.errors import UnbalancedJournalError, UnknownCurrencyError
from refund_service.domain.ledger import (
    Account,
    Direction,
    Entry,
    EntryContext,
    EntryType,
    FxQuote,
    PaymentStatus,
    PaymentTerms,
    Posting,
    RefundAmounts,
    assert_balanced,
    chargeback_entry,
    chargeback_reversal_entry,
    entry_id,
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

TID = "txn-ledger-1"
CREATED_AT = "2024-03-01T09:30:00+00:00"
QUOTE = FxQuote("EUR", "USD", "1.0837", "ECB euro reference rates", "2024-03-01")

amounts = st.one_of(st.integers(0, 1000), st.integers(0, 10**15))
positive = st.one_of(st.integers(1, 1000), st.integers(1, 10**15))
currencies = st.sampled_from(["USD", "EUR", "JPY", "KWD", "CLF"])
contexts = st.builds(
    EntryContext,
    transaction_id=st.just(TID),
    seq=st.integers(1, 10**6),
    created_at=st.just(CREATED_AT),
    currency=currencies,
)


def sides(entry: Entry) -> dict[str, tuple[int, int]]:
    """(debits, credits) per currency, added up independently of the ledger module."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in entry.postings:
        assert type(p.amount) is int
        assert p.amount > 0
        totals[p.currency][0 if p.direction is Direction.DEBIT else 1] += p.amount
    return {currency: (d, c) for currency, (d, c) in totals.items()}


def assert_balances(entry: Entry) -> int:
    """Assert debits == credits in every currency; return the total debited."""
    per_currency = sides(entry)
    for currency, (debits, credits) in per_currency.items():
        assert debits == credits, f"{entry.type} unbalanced in {currency}: {debits} != {credits}"
    return sum(d for d, _ in per_currency.values())


@st.composite
def refunds(draw: st.DrawFn) -> RefundAmounts:
    amount = draw(positive)
    tax = draw(st.integers(0, amount))
    fee = draw(st.integers(0, amount))
    return RefundAmounts(f"{TID}-REFUND", amount, tax, fee)


@st.composite
def terms(draw: st.DrawFn) -> PaymentTerms:
    settlement = draw(st.sampled_from([None, "USD"]))
    return PaymentTerms(
        amount=draw(positive),
        status=draw(st.sampled_from(list(PaymentStatus))),
        captured_at=CREATED_AT,
        settlement_currency=settlement,
        fx_rate="1.0837" if settlement else None,
    )


@st.composite
def any_entries(draw: st.DrawFn) -> Entry:
    """One entry from any builder, with random valid amounts."""
    ctx = draw(contexts)
    kind = draw(st.sampled_from([t for t in EntryType if t is not EntryType.REVERSAL]))
    if kind is EntryType.PAYMENT:
        return payment_entry(ctx, draw(terms()), capture=draw(st.booleans()))
    if kind is EntryType.TAX:
        return tax_entry(ctx, draw(amounts))
    if kind is EntryType.FEE:
        return fee_entry(ctx, draw(amounts))
    if kind is EntryType.CHARGEBACK:
        return chargeback_entry(ctx, draw(amounts))
    if kind is EntryType.CHARGEBACK_REVERSAL:
        return chargeback_reversal_entry(ctx, draw(amounts), "dp_1")
    if kind is EntryType.FX_ADJUSTMENT:
        difference = draw(st.integers(-(10**12), 10**12))
        return fx_adjustment_entry(ctx, f"{TID}-REFUND", difference, "USD", QUOTE)
    builder = {
        EntryType.REFUND_PENDING: refund_pending_entry,
        EntryType.REFUND_PAID: refund_success_entry,
        EntryType.REFUND_VOID: refund_void_entry,
        EntryType.FEE_REVERSAL: fee_reversal_entry,
    }[kind]
    return builder(ctx, draw(refunds()))


@settings(max_examples=200, deadline=None)
@given(any_entries())
def test_every_builder_journal_balances_per_currency(entry: Entry) -> None:
    debited = assert_balances(entry)
    # the journal moves what the entry says it means, not merely nothing
    expected = {
        EntryType.TAX: entry.tax_amount,
        EntryType.FEE: entry.fee_amount,
        EntryType.CHARGEBACK: entry.amount,
        EntryType.CHARGEBACK_REVERSAL: entry.amount,
        EntryType.REFUND_PENDING: entry.amount,
        EntryType.REFUND_PAID: entry.amount,
        EntryType.REFUND_VOID: entry.amount,
        EntryType.FEE_REVERSAL: entry.fee_amount,
        EntryType.FX_ADJUSTMENT: abs(entry.amount),
    }
    if entry.type is EntryType.PAYMENT:
        moved = entry.payment_status in (PaymentStatus.COMPLETED, PaymentStatus.PENDING)
        assert debited == (entry.amount if moved else 0)
    else:
        assert debited == expected[entry.type]


@settings(max_examples=200, deadline=None)
@given(ctx=contexts, refund=refunds())
def test_refund_pending_reserves_net_and_tax_and_void_mirrors_it(
    ctx: EntryContext, refund: RefundAmounts
) -> None:
    pending = refund_pending_entry(ctx, refund)
    void = refund_void_entry(ctx.next(), refund)
    # Then the reservation moves the net from revenue and the tax from tax_payable to clearing
    debits = Counter()
    credits = Counter()
    for p in pending.postings:
        (debits if p.direction is Direction.DEBIT else credits)[p.account] += p.amount
    assert debits[Account.MERCHANT_REVENUE] == refund.amount - refund.tax
    assert debits[Account.TAX_PAYABLE] == refund.tax
    assert credits[Account.REFUND_CLEARING] == refund.amount
    # And the void is the same postings in the opposite direction
    assert sorted(map(repr, void.postings)) == sorted(repr(p.reversed()) for p in pending.postings)
    assert (void.type, void.amount, void.tax_amount, void.fee_amount, void.refund_id) == (
        EntryType.REFUND_VOID,
        refund.amount,
        refund.tax,
        refund.fee,
        refund.refund_id,
    )


@pytest.mark.parametrize(
    ("difference", "debit", "credit"),
    [
        (125, Account.FX_GAIN_LOSS, Account.PROCESSOR_SETTLEMENT),  # a loss
        (-125, Account.PROCESSOR_SETTLEMENT, Account.FX_GAIN_LOSS),  # a gain
    ],
)
def test_fx_adjustment_books_losses_and_gains_in_the_settlement_currency(
    difference: int, debit: Account, credit: Account
) -> None:
    ctx = EntryContext(TID, 7, CREATED_AT, "EUR")
    entry = fx_adjustment_entry(ctx, f"{TID}-REFUND", difference, "USD", QUOTE)
    assert entry.postings == (
        Posting(debit, Direction.DEBIT, 125, "USD"),
        Posting(credit, Direction.CREDIT, 125, "USD"),
    )
    assert (entry.type, entry.currency, entry.amount, entry.fx) == (
        EntryType.FX_ADJUSTMENT,
        "USD",
        difference,
        QUOTE,
    )


def test_fx_adjustment_of_zero_has_no_postings_but_keeps_the_rate() -> None:
    ctx = EntryContext(TID, 7, CREATED_AT, "EUR")
    entry = fx_adjustment_entry(ctx, f"{TID}-REFUND", 0, "USD", QUOTE)
    assert entry.postings == ()
    assert entry.amount == 0
    assert entry.fx == QUOTE


@settings(max_examples=200, deadline=None)
@given(original=any_entries(), note=st.none() | st.text(max_size=20))
def test_reversal_of_every_reversible_type_balances_and_mirrors_the_original(
    original: Entry, note: str | None
) -> None:
    ctx = EntryContext(TID, original.seq + 1, CREATED_AT, "USD")
    # When the entry is reversed
    reversal = reversal_entry(ctx, original, note)
    # Then the reversal balances, points at the original and has its postings flipped
    assert assert_balances(reversal) == assert_balances(original)
    assert reversal.type is EntryType.REVERSAL
    assert reversal.reverses_type is original.type
    assert reversal.reverses_entry_id == entry_id(TID, original.seq) == original.entry_id
    assert reversal.seq == original.seq + 1
    assert len(reversal.postings) == len(original.postings)
    for mine, theirs in zip(reversal.postings, original.postings, strict=True):
        assert (mine.account, mine.amount, mine.currency) == (
            theirs.account,
            theirs.amount,
            theirs.currency,
        )
        assert mine.direction is not theirs.direction
    assert (reversal.amount, reversal.tax_amount, reversal.fee_amount, reversal.currency) == (
        original.amount,
        original.tax_amount,
        original.fee_amount,
        original.currency,
    )
    assert reversal.refund_id == original.refund_id
    assert reversal.note == note
    # And a reversal is not itself reversed
    with pytest.raises(ValueError, match="reversal"):
        reversal_entry(ctx.next(), reversal)


@pytest.mark.parametrize(
    "postings",
    [
        # debits exceed credits
        (
            Posting(Account.PROCESSOR_SETTLEMENT, Direction.DEBIT, 1000, "USD"),
            Posting(Account.MERCHANT_REVENUE, Direction.CREDIT, 999, "USD"),
        ),
        # a lone credit
        (Posting(Account.TAX_PAYABLE, Direction.CREDIT, 1, "USD"),),
        # equal in total, but not per currency
        (
            Posting(Account.PROCESSOR_SETTLEMENT, Direction.DEBIT, 100, "USD"),
            Posting(Account.MERCHANT_REVENUE, Direction.CREDIT, 100, "EUR"),
        ),
        # balanced in USD, unbalanced in EUR
        (
            Posting(Account.PROCESSOR_SETTLEMENT, Direction.DEBIT, 100, "USD"),
            Posting(Account.MERCHANT_REVENUE, Direction.CREDIT, 100, "USD"),
            Posting(Account.FX_GAIN_LOSS, Direction.DEBIT, 3, "EUR"),
        ),
        # both on the same side
        (
            Posting(Account.REFUND_CLEARING, Direction.DEBIT, 5, "JPY"),
            Posting(Account.MERCHANT_REVENUE, Direction.DEBIT, 5, "JPY"),
        ),
    ],
)
def test_hand_made_unbalanced_journal_is_refused(postings: tuple[Posting, ...]) -> None:
    with pytest.raises(UnbalancedJournalError):
        assert_balanced(postings)
    with pytest.raises(UnbalancedJournalError):
        Entry(TID, 1, EntryType.PAYMENT, CREATED_AT, postings, "USD", amount=100)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 10**15), st.integers(1, 10**15))
def test_postings_that_differ_by_any_amount_are_refused(debit: int, credit: int) -> None:
    postings = (
        Posting(Account.PROCESSOR_SETTLEMENT, Direction.DEBIT, debit, "USD"),
        Posting(Account.MERCHANT_REVENUE, Direction.CREDIT, credit, "USD"),
    )
    if debit == credit:
        assert_balanced(postings)
    else:
        with pytest.raises(UnbalancedJournalError):
            assert_balanced(postings)


@pytest.mark.parametrize("amount", [0, -1, -100, 1.0, 100.5, True, False, Decimal(100), "100"])
def test_posting_amount_must_be_a_positive_int(amount: object) -> None:
    with pytest.raises(UnbalancedJournalError):
        Posting(Account.PROCESSOR_SETTLEMENT, Direction.DEBIT, amount, "USD")  # type: ignore[arg-type]


def test_posting_in_an_unknown_currency_is_refused() -> None:
    postings = (
        Posting(Account.PROCESSOR_SETTLEMENT, Direction.DEBIT, 1, "ABC"),
        Posting(Account.MERCHANT_REVENUE, Direction.CREDIT, 1, "ABC"),
    )
    with pytest.raises(UnknownCurrencyError):
        assert_balanced(postings)


def test_entry_sequence_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        Entry(TID, 0, EntryType.TAX, CREATED_AT, (), "USD")
    assert entry_id(TID, 42) == f"{TID}#000042"


def test_pending_payment_is_a_receivable_that_capture_settles() -> None:
    ctx = EntryContext(TID, 1, CREATED_AT, "USD")
    authorized = payment_entry(ctx, PaymentTerms(500, PaymentStatus.PENDING, CREATED_AT))
    captured = payment_entry(
        ctx.next(), PaymentTerms(500, PaymentStatus.COMPLETED, CREATED_AT), capture=True
    )
    assert authorized.postings == (
        Posting(Account.PROCESSOR_RECEIVABLE, Direction.DEBIT, 500, "USD"),
        Posting(Account.MERCHANT_REVENUE, Direction.CREDIT, 500, "USD"),
    )
    assert captured.postings == (
        Posting(Account.PROCESSOR_SETTLEMENT, Direction.DEBIT, 500, "USD"),
        Posting(Account.PROCESSOR_RECEIVABLE, Direction.CREDIT, 500, "USD"),
    )
    # the receivable is cleared: revenue once, cash once
    net: Counter[Account] = Counter()
    for p in authorized.postings + captured.postings:
        net[p.account] += p.amount if p.direction is Direction.DEBIT else -p.amount
    assert +net == Counter({Account.PROCESSOR_SETTLEMENT: 500})
    assert -net == Counter({Account.MERCHANT_REVENUE: 500})


def test_payment_with_settlement_currency_keeps_the_capture_rate() -> None:
    ctx = EntryContext(TID, 1, CREATED_AT, "EUR")
    entry = payment_entry(
        ctx,
        PaymentTerms(
            1000,
            PaymentStatus.COMPLETED,
            CREATED_AT,
            settlement_currency="USD",
            fx_rate="1.0837",
        ),
    )
    assert entry.fx == FxQuote("EUR", "USD", "1.0837", "capture", "2024-03-01")
    assert entry.settlement_currency == "USD"
