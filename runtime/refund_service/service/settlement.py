"""Step 5 and rollback: recording what became of a pending refund, and undoing a paid one."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from refund_service import observability_names as names
from refund_service.domain.audit import AuditAction
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.fx import fx_difference
from refund_service.domain.ledger import (
    Entry,
    EntryType,
    RefundAmounts,
    fee_reversal_entry,
    fx_adjustment_entry,
    refund_success_entry,
    refund_void_entry,
    reversal_entry,
)
from refund_service.domain.processor import (
    ProcessorResult,
    ProcessorStatus,
)
from refund_service.domain.refund import Refund, RefundStatus
from refund_service.domain.summary import Summary
from refund_service.service import unit_of_work
from refund_service.service.changes import ChangeBuilder
from refund_service.service.context import Caller, Services
from refund_service.service.ports import TransactionState
from refund_service.service.processor_calls import processor_says_paid
from refund_service.service.refusals import audited_refusal
from refund_service.service.unit_of_work import Count, Decision, Refusal, over_refund_counts

_SETTLED_ACTION = {
    RefundStatus.SUCCESS: AuditAction.REFUND_SUCCEEDED,
    RefundStatus.FAILED: AuditAction.REFUND_FAILED,
    RefundStatus.PENDING: AuditAction.REFUND_LEFT_PENDING,
}


def _refund_in(state: TransactionState, refund_id: str) -> Refund:
    refund = state.refunds.get(refund_id)
    if refund is None:
        raise DomainError(ErrorCode.REFUND_NOT_FOUND, "Refund not found.", {"refund_id": refund_id})
    return refund


def _amounts(refund: Refund) -> RefundAmounts:
    return RefundAmounts(refund.refund_id, refund.amount, refund.tax_amount, refund.fee_amount)


def _book_success(builder: ChangeBuilder, services: Services, refund: Refund) -> list[int]:
    amounts = _amounts(refund)
    seqs = [builder.add_entry(lambda ctx: refund_success_entry(ctx, amounts)).seq]
    if refund.fee_amount:
        seqs.append(builder.add_entry(lambda ctx: fee_reversal_entry(ctx, amounts)).seq)
    summary = builder.summary
    settlement = summary.settlement_currency
    if settlement and summary.fx_rate and settlement != refund.currency:
        quote = services.rates.quote(refund.currency, settlement, services.clock().date())
        difference = fx_difference(
            refund.amount,
            refund.currency,
            settlement,
            Decimal(summary.fx_rate),
            Decimal(quote.rate),
        )
        if difference:
            seqs.append(
                builder.add_entry(
                    lambda ctx: fx_adjustment_entry(
                        ctx, refund.refund_id, difference, settlement, quote
                    )
                ).seq
            )
    return seqs


def record_outcome(
    builder: ChangeBuilder,
    services: Services,
    refund: Refund,
    result: ProcessorResult,
    *,
    late: bool = False,
) -> Refund:
    seqs: list[int] = []
    status = RefundStatus.PENDING
    if result.status is ProcessorStatus.SUCCEEDED:
        status = RefundStatus.SUCCESS
        seqs = _book_success(builder, services, refund)
        fx = sum(
            e.amount for e in builder.entries if e.seq in seqs and e.type is EntryType.FX_ADJUSTMENT
        )
        refund = replace(refund, fx_adjustment_amount=refund.fx_adjustment_amount + fx)
    elif result.status is ProcessorStatus.FAILED:
        status = RefundStatus.FAILED
        seqs = [builder.add_entry(lambda ctx: refund_void_entry(ctx, _amounts(refund))).seq]
    builder.audit(
        AuditAction.PROCESSOR_RESPONDED,
        refund_id=refund.refund_id,
        amount=refund.amount,
        currency=refund.currency,
        details=result.as_dict(),
    )
    builder.audit(
        _SETTLED_ACTION[status],
        refund_id=refund.refund_id,
        amount=refund.amount,
        currency=refund.currency,
        details={
            "entries": [f"{refund.transaction_id}#{s:06d}" for s in seqs],
            **({"late": True, "previous_status": RefundStatus.FAILED.value} if late else {}),
        },
    )
    answer = result.as_dict()
    if not answer.get("processor_reference") and refund.processor:  # keep what we knew
        answer["processor_reference"] = refund.processor.get("processor_reference")
    return replace(
        refund,
        status=status,
        processor=answer,
        updated_at=builder.now,
        entry_seqs=refund.entry_seqs + tuple(seqs),
        pending_since=refund.pending_since if status is RefundStatus.PENDING else None,
    )


def settle(
    services: Services,
    transaction_id: str,
    refund_id: str,
    result: ProcessorResult,
    caller: Caller,
    known: TransactionState | None = None,
) -> tuple[Refund, Summary]:
    """Book the processor's answer for a refund, once.

    A pending refund takes the answer. A refund the ledger voided or failed that the processor
    says it paid becomes a succeeded one through new entries: a payout is never left unbooked.
    Any other late or repeated answer changes nothing. `known` is the state this process last
    wrote: the first attempt builds on it without a read, and a conflict falls back to reading.
    """

    def decide(builder: ChangeBuilder) -> Decision[tuple[Refund, Summary]]:
        state = builder.state
        refund = _refund_in(state, refund_id)
        if _late_payout(services, state, refund, result):
            return _book_late_payout(builder, services, refund, result)
        if refund.status is not RefundStatus.PENDING or _nothing_new(refund, result):
            counts = (Count(names.REFUND_OUTCOME_CONFLICT),) if _contradicts(refund, result) else ()
            return Decision((refund, state.summary), counts=counts)
        settled = record_outcome(builder, services, refund, result)
        return _settled(builder, settled, result)

    def read() -> TransactionState:
        return services.store.load_refund(transaction_id, refund_id)

    return unit_of_work.change(services, transaction_id, caller, decide, known=known, read=read)


def _settled(
    builder: ChangeBuilder, settled: Refund, result: ProcessorResult, *counts: Count
) -> Decision[tuple[Refund, Summary]]:
    """The change that books a processor's answer on `settled`, as a fact."""
    builder.put_refund(settled)
    summary = builder.summary
    return Decision(
        (settled, summary),
        builder.build(as_fact=True),
        counts + outcome_counts(settled, result, summary),
    )


def _contradicts(refund: Refund, result: ProcessorResult) -> bool:
    """A success for a refund the ledger holds as failed that is not booked: someone looks."""
    return result.status is ProcessorStatus.SUCCEEDED and refund.status is RefundStatus.FAILED


def _voids_in_force(state: TransactionState, refund: Refund) -> list[Entry]:
    """The refund's REFUND_VOID entries that no REVERSAL has taken back yet."""
    entries = {e.seq: e for e in state.entries}
    mine = [entries[s] for s in refund.entry_seqs if s in entries]
    undone = {e.reverses_entry_id for e in mine if e.type is EntryType.REVERSAL}
    return [e for e in mine if e.type is EntryType.REFUND_VOID and e.entry_id not in undone]


def _late_payout(
    services: Services, state: TransactionState, refund: Refund, result: ProcessorResult
) -> bool:
    """A success for a refund the ledger voided, to be booked: at once when the void said the
    refund was never sent; when the void recorded the processor's own failure, only if the
    processor says now that it paid (a success older than that failure may arrive late)."""
    if result.status is not ProcessorStatus.SUCCEEDED or refund.status is not RefundStatus.FAILED:
        return False
    if not _voids_in_force(state, refund):
        return False
    if (refund.processor or {}).get("retryable"):  # voided as unsent
        return True
    return processor_says_paid(services.processor, refund)


def _book_late_payout(
    builder: ChangeBuilder, services: Services, refund: Refund, result: ProcessorResult
) -> Decision[tuple[Refund, Summary]]:
    """The ledger released this refund, yet the processor paid it: take the release back
    (a REVERSAL of the void reserves the amount again) and book the success on top."""
    seqs = [
        _append_reversal(builder, void, "the processor paid the refund after all")
        for void in _voids_in_force(builder.state, refund)
    ]
    reopened = replace(
        refund, status=RefundStatus.PENDING, entry_seqs=refund.entry_seqs + tuple(seqs)
    )
    settled = record_outcome(builder, services, reopened, result, late=True)
    return _settled(builder, settled, result, Count(names.REFUND_OUTCOME_CONFLICT))


def _nothing_new(refund: Refund, result: ProcessorResult) -> bool:
    """Still pending, as already recorded: asking again (every reconciler run) writes nothing."""
    recorded = refund.processor or {}
    return result.status is ProcessorStatus.PENDING and recorded.get("code") == result.code.value


def outcome_counts(refund: Refund, result: ProcessorResult, summary: Summary) -> tuple[Count, ...]:
    """What booking a processor's answer counts."""
    if refund.status is RefundStatus.SUCCESS:
        status: tuple[Count, ...] = (
            Count(names.REFUNDS_SUCCEEDED),
            Count(names.REFUND_AMOUNT, refund.amount),
        )
    elif refund.status is RefundStatus.FAILED:
        status = (Count(names.REFUNDS_FAILED, dimensions={"code": result.code.value}),)
    else:
        status = (Count(names.REFUNDS_PENDING),)
    return over_refund_counts(summary) + status


def _append_reversal(builder: ChangeBuilder, original: Entry, note: str) -> int:
    entry = builder.add_entry(
        lambda ctx: reversal_entry(ctx, original, note), currency=original.currency
    )
    return entry.seq


def reverse_refund(
    builder: ChangeBuilder,
    refund: Refund,
    status: RefundStatus,
    action: AuditAction,
    details: dict[str, Any],
) -> Refund:
    """Append a REVERSAL for each of the refund's entries, newest first; nothing is changed."""
    entries = {e.seq: e for e in builder.state.entries}
    reversible = [
        entries[s]
        for s in refund.entry_seqs
        if entries[s].type not in (EntryType.REVERSAL, EntryType.REFUND_VOID)
    ]
    note = str(details.get("reason") or action.value)
    seqs = [
        _append_reversal(builder, original, note)
        for original in sorted(reversible, key=lambda e: e.seq, reverse=True)
    ]
    builder.audit(
        action,
        refund_id=refund.refund_id,
        amount=refund.amount,
        currency=refund.currency,
        details={**details, "entries": [f"{refund.transaction_id}#{s:06d}" for s in seqs]},
    )
    return replace(
        refund, status=status, updated_at=builder.now, entry_seqs=refund.entry_seqs + tuple(seqs)
    )


def _check_reversible(refund: Refund) -> None:
    if refund.status is not RefundStatus.SUCCESS:
        raise DomainError(
            ErrorCode.REFUND_NOT_REVERSIBLE,
            f"Only a succeeded refund can be rolled back; this one is {refund.status.value}.",
            {"refund_id": refund.refund_id, "refund_status": refund.status.value},
        )


def rollback_refund(
    services: Services, transaction_id: str, refund_id: str, reason: str, caller: Caller
) -> tuple[Refund, Summary]:
    """Reverse a paid refund; its amount becomes refundable again. Repeating it is harmless."""

    def decide(builder: ChangeBuilder) -> Decision[tuple[Refund, Summary]] | Refusal:
        state = builder.state
        try:
            refund = _refund_in(state, refund_id)
            if refund.status is RefundStatus.ROLLED_BACK:
                return Decision((refund, state.summary))
            _check_reversible(refund)
        except DomainError as refusal:
            return audited_refusal(
                builder, AuditAction.ROLLBACK_REJECTED, refusal, refund_id=refund_id, reason=reason
            )
        reversed_refund = reverse_refund(
            builder,
            refund,
            RefundStatus.ROLLED_BACK,
            AuditAction.REFUND_ROLLED_BACK,
            {"reason": reason},
        )
        builder.put_refund(reversed_refund)
        return Decision((reversed_refund, builder.summary), builder.build(as_fact=True))

    return unit_of_work.change(services, transaction_id, caller, decide)
