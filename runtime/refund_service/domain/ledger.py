"""The append-only, double-entry ledger: entry types, accounts, postings and journal builders.

Every entry is one journal whose debits equal its credits in each currency. Builders are the
only way entries are made, so an unbalanced journal can never be written.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from refund_service.domain.errors import UnbalancedJournalError
from refund_service.domain.money import validate_currency


class EntryType(StrEnum):
    PAYMENT = "PAYMENT"
    FEE = "FEE"
    TAX = "TAX"
    CHARGEBACK = "CHARGEBACK"
    CHARGEBACK_REVERSAL = "CHARGEBACK_REVERSAL"
    REFUND_PENDING = "REFUND_PENDING"
    # The processor paid the refund back to the card. The stored value is SPEC's name for the
    # entry type: it is persisted and published, so it never changes.
    REFUND_PAID = "PAYMENT-SUCCESS"
    REFUND_VOID = "REFUND_VOID"
    FEE_REVERSAL = "FEE_REVERSAL"
    FX_ADJUSTMENT = "FX_ADJUSTMENT"
    REVERSAL = "REVERSAL"


class Account(StrEnum):
    PROCESSOR_SETTLEMENT = "processor_settlement"  # cash held for us by the processor
    PROCESSOR_RECEIVABLE = "processor_receivable"  # authorized, not yet captured
    MERCHANT_REVENUE = "merchant_revenue"
    TAX_PAYABLE = "tax_payable"
    PROCESSOR_FEES = "processor_fees"
    REFUND_CLEARING = "refund_clearing"  # refunds reserved, not yet paid out
    FX_GAIN_LOSS = "fx_gain_loss"


class Direction(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    VOIDED = "voided"


@dataclass(frozen=True)
class Posting:
    account: Account
    direction: Direction
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount) is not int or self.amount <= 0:
            raise UnbalancedJournalError(f"posting amount must be a positive integer: {self!r}")

    def reversed(self) -> Posting:
        other = Direction.CREDIT if self.direction is Direction.DEBIT else Direction.DEBIT
        return Posting(self.account, other, self.amount, self.currency)


@dataclass(frozen=True)
class FxQuote:
    """A conversion rate with where and when it came from, kept on the entry."""

    base: str
    quote: str
    rate: str  # decimal string: units of `quote` per unit of `base`
    source: str
    date: str  # ISO date the rate was published for


@dataclass(frozen=True)
class Entry:
    """One journal. `amount`, `tax_amount` and `fee_amount` say what it means to the summary."""

    transaction_id: str
    seq: int
    type: EntryType
    created_at: str
    postings: tuple[Posting, ...]
    currency: str
    amount: int = 0
    tax_amount: int = 0
    fee_amount: int = 0
    refund_id: str | None = None
    payment_status: PaymentStatus | None = None
    captured_at: str | None = None
    settlement_currency: str | None = None
    fx: FxQuote | None = None
    reverses_entry_id: str | None = None
    reverses_type: EntryType | None = None
    reference: str | None = None  # the processor's reference, where one exists
    note: str | None = None

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise ValueError("entry sequence numbers start at 1")
        assert_balanced(self.postings)

    @property
    def entry_id(self) -> str:
        return entry_id(self.transaction_id, self.seq)


def entry_id(transaction_id: str, seq: int) -> str:
    return f"{transaction_id}#{seq:06d}"


def assert_balanced(postings: tuple[Posting, ...]) -> None:
    totals: dict[str, int] = defaultdict(int)
    for posting in postings:
        validate_currency(posting.currency)
        sign = 1 if posting.direction is Direction.DEBIT else -1
        totals[posting.currency] += sign * posting.amount
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced:
        raise UnbalancedJournalError(f"debits and credits differ: {unbalanced}")


def _pair(debit: Account, credit: Account, amount: int, currency: str) -> tuple[Posting, ...]:
    """A debit and its matching credit; nothing when the amount is zero."""
    if amount == 0:
        return ()
    return (
        Posting(debit, Direction.DEBIT, amount, currency),
        Posting(credit, Direction.CREDIT, amount, currency),
    )


@dataclass(frozen=True)
class EntryContext:
    """Where the next entry goes: its transaction, sequence number and time."""

    transaction_id: str
    seq: int
    created_at: str
    currency: str

    def next(self) -> EntryContext:
        return EntryContext(self.transaction_id, self.seq + 1, self.created_at, self.currency)

    def entry(self, kind: EntryType, postings: tuple[Posting, ...], **meaning: Any) -> Entry:
        """The entry of type `kind` at this place. `meaning` holds the fields that say what it
        means to the summary (and `currency`, when it is not the payment's)."""
        meaning.setdefault("currency", self.currency)
        return Entry(
            transaction_id=self.transaction_id,
            seq=self.seq,
            type=kind,
            created_at=self.created_at,
            postings=postings,
            **meaning,
        )


@dataclass(frozen=True)
class PaymentTerms:
    """What a recorded payment says about itself."""

    amount: int
    status: PaymentStatus
    captured_at: str
    tax_amount: int = 0
    fee_amount: int = 0
    settlement_currency: str | None = None
    fx_rate: str | None = None
    reference: str | None = None  # the processor's payment id


def payment_entry(ctx: EntryContext, terms: PaymentTerms, *, capture: bool = False) -> Entry:
    """PAYMENT. A pending payment is a receivable; its capture moves it to settlement.

    A failed or voided payment moved no money: its journal has no postings.
    """
    if terms.status is PaymentStatus.COMPLETED:
        credit = Account.PROCESSOR_RECEIVABLE if capture else Account.MERCHANT_REVENUE
        postings = _pair(Account.PROCESSOR_SETTLEMENT, credit, terms.amount, ctx.currency)
    elif terms.status is PaymentStatus.PENDING:
        postings = _pair(
            Account.PROCESSOR_RECEIVABLE, Account.MERCHANT_REVENUE, terms.amount, ctx.currency
        )
    else:
        postings = ()
    fx = None
    if terms.settlement_currency and terms.fx_rate:
        fx = FxQuote(
            ctx.currency,
            terms.settlement_currency,
            terms.fx_rate,
            "capture",
            terms.captured_at[:10],
        )
    return ctx.entry(
        EntryType.PAYMENT,
        postings,
        amount=terms.amount,
        tax_amount=terms.tax_amount,  # informational: TAX and FEE entries carry the bookings
        fee_amount=terms.fee_amount,
        payment_status=terms.status,
        captured_at=terms.captured_at,
        reference=terms.reference,
        settlement_currency=terms.settlement_currency,
        fx=fx,
    )


def tax_entry(ctx: EntryContext, tax: int) -> Entry:
    """TAX: the tax part of the revenue is owed to the tax authority."""
    postings = _pair(Account.MERCHANT_REVENUE, Account.TAX_PAYABLE, tax, ctx.currency)
    return ctx.entry(EntryType.TAX, postings, amount=tax, tax_amount=tax)


def fee_entry(ctx: EntryContext, fee: int) -> Entry:
    """FEE: the processor keeps its fee out of the settlement."""
    postings = _pair(Account.PROCESSOR_FEES, Account.PROCESSOR_SETTLEMENT, fee, ctx.currency)
    return ctx.entry(EntryType.FEE, postings, amount=fee, fee_amount=fee)


def chargeback_entry(
    ctx: EntryContext, amount: int, reference: str | None = None, note: str | None = None
) -> Entry:
    """CHARGEBACK: the processor takes the disputed amount back."""
    postings = _pair(Account.MERCHANT_REVENUE, Account.PROCESSOR_SETTLEMENT, amount, ctx.currency)
    return ctx.entry(EntryType.CHARGEBACK, postings, amount=amount, reference=reference, note=note)


def chargeback_reversal_entry(ctx: EntryContext, amount: int, chargeback_id: str) -> Entry:
    """CHARGEBACK_REVERSAL: the merchant won the dispute; the disputed amount comes back."""
    postings = _pair(Account.PROCESSOR_SETTLEMENT, Account.MERCHANT_REVENUE, amount, ctx.currency)
    return ctx.entry(
        EntryType.CHARGEBACK_REVERSAL, postings, amount=amount, reference=chargeback_id
    )


@dataclass(frozen=True)
class RefundAmounts:
    refund_id: str
    amount: int
    tax: int
    fee: int


def _refund_entry(
    ctx: EntryContext, kind: EntryType, refund: RefundAmounts, postings: tuple[Posting, ...]
) -> Entry:
    return ctx.entry(
        kind,
        postings,
        amount=refund.amount,
        tax_amount=refund.tax,
        fee_amount=refund.fee,
        refund_id=refund.refund_id,
    )


def refund_pending_entry(ctx: EntryContext, refund: RefundAmounts) -> Entry:
    """REFUND_PENDING: reserve the refund against revenue and tax in the clearing account."""
    net = refund.amount - refund.tax
    postings = _pair(Account.MERCHANT_REVENUE, Account.REFUND_CLEARING, net, ctx.currency) + _pair(
        Account.TAX_PAYABLE, Account.REFUND_CLEARING, refund.tax, ctx.currency
    )
    return _refund_entry(ctx, EntryType.REFUND_PENDING, refund, postings)


def refund_success_entry(ctx: EntryContext, refund: RefundAmounts) -> Entry:
    """PAYMENT-SUCCESS: the processor paid the reserved amount back to the card."""
    postings = _pair(
        Account.REFUND_CLEARING, Account.PROCESSOR_SETTLEMENT, refund.amount, ctx.currency
    )
    return _refund_entry(ctx, EntryType.REFUND_PAID, refund, postings)


def refund_void_entry(ctx: EntryContext, refund: RefundAmounts) -> Entry:
    """REFUND_VOID: release the reservation; the pending entry's postings, mirrored."""
    pending = refund_pending_entry(ctx, refund)
    postings = tuple(p.reversed() for p in pending.postings)
    return _refund_entry(ctx, EntryType.REFUND_VOID, refund, postings)


def fee_reversal_entry(ctx: EntryContext, refund: RefundAmounts) -> Entry:
    """FEE_REVERSAL: the processor returns its fee share of the refund."""
    postings = _pair(Account.PROCESSOR_SETTLEMENT, Account.PROCESSOR_FEES, refund.fee, ctx.currency)
    return _refund_entry(ctx, EntryType.FEE_REVERSAL, refund, postings)


def fx_adjustment_entry(
    ctx: EntryContext, refund_id: str, difference: int, settlement_currency: str, quote: FxQuote
) -> Entry:
    """FX_ADJUSTMENT: what the refund costs in settlement currency beyond the capture rate.

    `difference` is signed: positive is a loss (the refund costs more than at capture).
    """
    if difference > 0:
        postings = _pair(
            Account.FX_GAIN_LOSS, Account.PROCESSOR_SETTLEMENT, difference, settlement_currency
        )
    else:
        postings = _pair(
            Account.PROCESSOR_SETTLEMENT, Account.FX_GAIN_LOSS, -difference, settlement_currency
        )
    return ctx.entry(
        EntryType.FX_ADJUSTMENT,
        postings,
        currency=settlement_currency,
        amount=difference,
        refund_id=refund_id,
        settlement_currency=settlement_currency,
        fx=quote,
    )


def reversal_entry(ctx: EntryContext, original: Entry, note: str | None = None) -> Entry:
    """REVERSAL: the original's postings in the opposite direction; the original stays."""
    if original.type is EntryType.REVERSAL:
        raise ValueError("a reversal is not itself reversed; record a new entry instead")
    return ctx.entry(
        EntryType.REVERSAL,
        tuple(p.reversed() for p in original.postings),
        currency=original.currency,
        amount=original.amount,
        tax_amount=original.tax_amount,
        fee_amount=original.fee_amount,
        refund_id=original.refund_id,
        settlement_currency=original.settlement_currency,
        fx=original.fx,
        reverses_entry_id=original.entry_id,
        reverses_type=original.type,
        note=note,
    )
