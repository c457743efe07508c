"""The per-transaction summary: derived state, always equal to the fold of the entries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from refund_service.domain.ledger import Entry, EntryType, PaymentStatus


class SummaryStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CHARGEBACK = "chargeback"
    OVER_REFUNDED = "over_refunded"
    FAILED = "failed"


@dataclass(frozen=True)
class Summary:
    transaction_id: str
    currency: str = ""
    payment_status: PaymentStatus | None = None
    captured_amount: int = 0
    captured_at: str | None = None
    tax_amount: int = 0
    fee_amount: int = 0
    refunded_amount: int = 0
    pending_refund_amount: int = 0
    pending_tax_amount: int = 0
    pending_fee_amount: int = 0
    tax_refunded_amount: int = 0
    fee_refunded_amount: int = 0
    chargeback_amount: int = 0
    fx_adjustment_amount: int = 0
    settlement_currency: str | None = None
    fx_rate: str | None = None
    refund_count: int = 0
    version: int = 0

    @property
    def exists(self) -> bool:
        return self.payment_status is not None

    @property
    def refundable_amount(self) -> int:
        """Nothing while the payment is not completed or a chargeback stands."""
        if self.payment_status is not PaymentStatus.COMPLETED or self.chargeback_amount > 0:
            return 0
        return max(0, self.captured_amount - self.refunded_amount - self.pending_refund_amount)

    @property
    def over_refunded(self) -> bool:
        """More went back to the card (refunds and standing chargebacks) than was captured."""
        return self.refunded_amount + self.chargeback_amount > self.captured_amount

    @property
    def status(self) -> SummaryStatus:
        if self.payment_status is PaymentStatus.PENDING:
            return SummaryStatus.PENDING
        if self.payment_status in (PaymentStatus.FAILED, PaymentStatus.VOIDED):
            return SummaryStatus.FAILED
        if self.over_refunded:
            return SummaryStatus.OVER_REFUNDED
        if self.chargeback_amount > 0:
            return SummaryStatus.CHARGEBACK
        if self.captured_amount > 0 and self.refunded_amount >= self.captured_amount:
            return SummaryStatus.REFUNDED
        if self.refunded_amount > 0:
            return SummaryStatus.PARTIALLY_REFUNDED
        return SummaryStatus.COMPLETED

    @property
    def tax_taken(self) -> int:
        """Tax held by live refunds, succeeded or pending."""
        return self.tax_refunded_amount + self.pending_tax_amount

    @property
    def fee_taken(self) -> int:
        return self.fee_refunded_amount + self.pending_fee_amount

    @property
    def reserved_amount(self) -> int:
        return self.refunded_amount + self.pending_refund_amount


# How each entry type moves the summary's running totals: field -> sign applied to
# (amount, tax_amount, fee_amount). A REVERSAL applies the negation of what it reverses.
_AMOUNT, _TAX, _FEE = "amount", "tax_amount", "fee_amount"
_EFFECTS: dict[EntryType, tuple[tuple[str, str, int], ...]] = {
    EntryType.TAX: (("tax_amount", _TAX, 1),),
    EntryType.FEE: (("fee_amount", _FEE, 1),),
    EntryType.CHARGEBACK: (("chargeback_amount", _AMOUNT, 1),),
    EntryType.CHARGEBACK_REVERSAL: (("chargeback_amount", _AMOUNT, -1),),
    EntryType.REFUND_PENDING: (
        ("pending_refund_amount", _AMOUNT, 1),
        ("pending_tax_amount", _TAX, 1),
        ("pending_fee_amount", _FEE, 1),
    ),
    EntryType.REFUND_PAID: (
        ("pending_refund_amount", _AMOUNT, -1),
        ("pending_tax_amount", _TAX, -1),
        ("pending_fee_amount", _FEE, -1),
        ("refunded_amount", _AMOUNT, 1),
        ("tax_refunded_amount", _TAX, 1),
    ),
    EntryType.REFUND_VOID: (
        ("pending_refund_amount", _AMOUNT, -1),
        ("pending_tax_amount", _TAX, -1),
        ("pending_fee_amount", _FEE, -1),
    ),
    EntryType.FEE_REVERSAL: (("fee_refunded_amount", _FEE, 1),),
    EntryType.FX_ADJUSTMENT: (("fx_adjustment_amount", _AMOUNT, 1),),
}


def _apply_effects(summary: Summary, entry: Entry, kind: EntryType, sign: int) -> Summary:
    changes: dict[str, Any] = {}
    for target, source, direction in _EFFECTS.get(kind, ()):
        changes[target] = getattr(summary, target) + sign * direction * getattr(entry, source)
    return replace(summary, **changes)


_MOVED_MONEY = (PaymentStatus.PENDING, PaymentStatus.COMPLETED)


def _apply_payment(summary: Summary, entry: Entry) -> Summary:
    """A failed or voided payment captured nothing."""
    return replace(
        summary,
        currency=entry.currency,
        payment_status=entry.payment_status,
        captured_amount=entry.amount if entry.payment_status in _MOVED_MONEY else 0,
        captured_at=entry.captured_at,
        settlement_currency=entry.settlement_currency or summary.settlement_currency,
        fx_rate=entry.fx.rate if entry.fx else summary.fx_rate,
    )


def apply(summary: Summary, entry: Entry) -> Summary:
    """The summary after one more entry. Entries must arrive in sequence order."""
    if entry.seq != summary.version + 1:
        raise ValueError(f"entry {entry.seq} out of order after version {summary.version}")
    if entry.type is EntryType.PAYMENT:
        summary = _apply_payment(summary, entry)
    elif entry.type is EntryType.REVERSAL:
        if entry.reverses_type is None:
            raise ValueError("a reversal must say which entry type it reverses")
        summary = _apply_effects(summary, entry, entry.reverses_type, -1)
    else:
        summary = _apply_effects(summary, entry, entry.type, 1)
    if entry.type is EntryType.REFUND_PENDING:
        summary = replace(summary, refund_count=summary.refund_count + 1)
    return replace(summary, version=entry.seq)


def fold(transaction_id: str, entries: Iterable[Entry]) -> Summary:
    summary = Summary(transaction_id)
    for entry in sorted(entries, key=lambda e: e.seq):
        summary = apply(summary, entry)
    return summary


def invariant_violations(summary: Summary) -> list[str]:
    """What is wrong with a summary, in words; empty when every invariant holds."""
    return structural_violations(summary) + limit_violations(summary)


def structural_violations(summary: Summary) -> list[str]:
    """What no sequence of entries may ever produce, whatever the processor did."""
    problems = []
    for f in fields(summary):
        value = getattr(summary, f.name)
        if f.name != "fx_adjustment_amount" and type(value) is int and value < 0:
            problems.append(f"{f.name} is negative")
    if summary.chargeback_amount > summary.captured_amount:
        problems.append("charged back exceeds captured")
    return problems


def limit_violations(summary: Summary) -> list[str]:
    """Limits the service keeps when it decides to move money. A processor's fact (a late
    payout, a dispute) is booked even past them, and the summary then says `over_refunded`."""
    problems = []
    if summary.refunded_amount + summary.pending_refund_amount > summary.captured_amount:
        problems.append("refunded + pending exceeds captured")
    if summary.tax_taken > summary.tax_amount:
        problems.append("tax refunded exceeds tax")
    if summary.fee_taken > summary.fee_amount:
        problems.append("fee refunded exceeds fee")
    return problems


@dataclass(frozen=True)
class Mismatch:
    transaction_id: str
    field: str
    stored: Any
    recomputed: Any


def verify(stored: Summary, entries: Iterable[Entry]) -> Mismatch | None:
    """Recompute the summary from the entries; the first field that differs, or None."""
    ordered = sorted(entries, key=lambda e: e.seq)
    for expected_seq, entry in enumerate(ordered, start=1):
        if entry.seq != expected_seq:
            return Mismatch(stored.transaction_id, "seq", expected_seq, entry.seq)
        if entry.transaction_id != stored.transaction_id:
            tid = stored.transaction_id
            return Mismatch(tid, "transaction_id", tid, entry.transaction_id)
    recomputed = fold(stored.transaction_id, ordered)
    for f in fields(Summary):
        if getattr(stored, f.name) != getattr(recomputed, f.name):
            return Mismatch(
                stored.transaction_id, f.name, getattr(stored, f.name), getattr(recomputed, f.name)
            )
    return None
