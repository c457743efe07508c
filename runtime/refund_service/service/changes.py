"""Building one atomic ledger change: entries, summary, refund records and audit records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from refund_service.domain.allocation import RefundShares
from refund_service.domain.audit import AuditAction, AuditRecord, Initiator, chain
from refund_service.domain.ids import refund_id as make_refund_id
from refund_service.domain.ledger import Entry, EntryContext, RefundAmounts, refund_pending_entry
from refund_service.domain.refund import Refund, RefundStatus
from refund_service.domain.summary import (
    Summary,
    apply,
    invariant_violations,
    structural_violations,
)
from refund_service.service.ports import Change, TransactionState


class LedgerInvariantError(RuntimeError):
    """A change would break a ledger invariant; it is never written."""


class ChangeBuilder:
    """Collects what one change writes, keeping the summary in step with each new entry."""

    def __init__(
        self,
        state: TransactionState,
        now: str,
        initiator: Initiator,
        correlation_id: str | None,
        *,
        moment: datetime | None = None,
    ):
        self.state = state
        self.summary: Summary = state.summary
        self.now = now
        self.moment = moment or datetime.fromisoformat(now)  # `now`, to the microsecond
        self.initiator = initiator
        self.correlation_id = correlation_id
        self.entries: list[Entry] = []
        self.refunds: list[Refund] = []
        self.records: list[AuditRecord] = []

    @property
    def transaction_id(self) -> str:
        return self.summary.transaction_id

    def add_entry(
        self, make: Callable[[EntryContext], Entry], currency: str | None = None
    ) -> Entry:
        ctx = EntryContext(
            self.transaction_id,
            self.summary.version + 1,
            self.now,
            currency or self.summary.currency,
        )
        entry = make(ctx)
        self.summary = apply(self.summary, entry)
        self.entries.append(entry)
        return entry

    def put_refund(self, refund: Refund) -> None:
        self.refunds = [r for r in self.refunds if r.refund_id != refund.refund_id] + [refund]

    def audit(
        self,
        action: AuditAction,
        *,
        refund_id: str | None = None,
        amount: int | None = None,
        currency: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.records.append(
            AuditRecord(
                seq=0,
                action=action,
                timestamp=self.now,
                transaction_id=self.transaction_id,
                initiator=self.initiator,
                refund_id=refund_id,
                amount=amount,
                currency=currency,
                details=details or {},
                correlation_id=self.correlation_id,
            )
        )

    def build(self, *, as_fact: bool = False, **head_changes: Any) -> Change:
        """The change to commit. `as_fact` books what the processor did (a payout, a dispute)
        even past the limits the service keeps when it decides to move money itself."""
        if not self.records:
            raise ValueError("every change leaves at least one audit record")
        check = structural_violations if as_fact else invariant_violations
        problems = check(self.summary)
        if problems:
            raise LedgerInvariantError(f"{self.transaction_id}: {'; '.join(problems)}")
        expected = self.state.head
        sealed, chain_head = chain(expected.chain, self.records)
        head = replace(expected, summary=self.summary, chain=chain_head, **head_changes)
        return Change(
            expected=expected,
            head=head,
            entries=tuple(self.entries),
            refunds=tuple(self.refunds),
            audit=tuple(sealed),
        )


def reserve_refund(
    builder: ChangeBuilder,
    amount: int,
    shares: RefundShares,
    *,
    validated: dict[str, Any] | None = None,
    pending: dict[str, Any] | None = None,
    **record: Any,
) -> Refund:
    """Step 3 for the payment's next refund: its REFUND_PENDING entry, audited, and its record.

    `validated` are the details of a REFUND_VALIDATED record written first, for a refund this
    service decided to make; `pending` adds to the REFUND_PENDING record's; `record` holds the
    refund's fields beyond its amounts, where and when.
    """
    summary = builder.summary
    rid = make_refund_id(summary.transaction_id, summary.refund_count + 1)
    amounts = RefundAmounts(rid, amount, shares.tax, shares.fee)
    entry = builder.add_entry(lambda ctx: refund_pending_entry(ctx, amounts))

    def audit(action: AuditAction, details: dict[str, Any]) -> None:
        builder.audit(
            action, refund_id=rid, amount=amount, currency=summary.currency, details=details
        )

    if validated is not None:
        audit(AuditAction.REFUND_VALIDATED, validated)
    audit(AuditAction.REFUND_PENDING, {"entry_id": entry.entry_id, **(pending or {})})
    return Refund(
        refund_id=rid,
        transaction_id=summary.transaction_id,
        status=RefundStatus.PENDING,
        amount=amount,
        currency=summary.currency,
        tax_amount=shares.tax,
        fee_amount=shares.fee,
        created_at=builder.now,
        updated_at=builder.now,
        initiator_id=builder.initiator.id,
        entry_seqs=(entry.seq,),
        **record,
    )
