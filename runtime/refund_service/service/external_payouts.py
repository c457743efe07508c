"""Payouts the processor made that no refund of ours asked for (a refund made in the
processor's dashboard, say). SPEC 3.1: every payout is booked, however the service learns it,
so each becomes a succeeded refund of the payment, once per processor reference."""

from __future__ import annotations

from dataclasses import dataclass

from refund_service.domain.allocation import allocate_on
from refund_service.domain.audit import AuditAction
from refund_service.domain.ids import refund_id as make_refund_id
from refund_service.domain.ledger import RefundAmounts, refund_pending_entry
from refund_service.domain.processor import ProcessorCode, normalized
from refund_service.domain.refund import Refund, RefundStatus
from refund_service.domain.summary import Summary
from refund_service.service.changes import ChangeBuilder
from refund_service.service.context import Caller, Services, timestamp, with_retries
from refund_service.service.settlement import count_outcome, record_outcome


@dataclass(frozen=True)
class ExternalPayout:
    transaction_id: str
    amount: int
    currency: str
    processor: str
    processor_reference: str  # the processor's refund id: books it at most once


@dataclass(frozen=True)
class BookedPayout:
    refund: Refund
    new: bool  # False when an earlier report of the same payout booked it


def book_external_payout(
    services: Services, payout: ExternalPayout, caller: Caller
) -> BookedPayout | None:
    """The refund that records the payout; None when the payment is unknown here or the
    payout is in another currency (the caller reports it)."""

    def attempt() -> BookedPayout | None:
        state = services.store.load(payout.transaction_id)
        summary = state.summary
        if not summary.exists or payout.currency != summary.currency or payout.amount <= 0:
            return None
        known = next(
            (
                r
                for r in state.refunds.values()
                if (r.processor or {}).get("processor_reference") == payout.processor_reference
            ),
            None,
        )
        if known is not None:
            return BookedPayout(known, new=False)
        builder = ChangeBuilder(
            state, timestamp(services.clock()), caller.initiator, caller.correlation_id
        )
        reserved = _reserve(builder, services, payout)
        result = normalized(
            ProcessorCode.APPROVED,
            payout.processor,
            reference=payout.processor_reference,
            processor_message="a refund made at the processor, not through this service",
        )
        settled = record_outcome(builder, services, reserved, result)
        builder.put_refund(settled)
        services.store.commit(builder.build(as_fact=True))
        count_outcome(services, settled, result, builder.summary)
        return BookedPayout(settled, new=True)

    return with_retries(services, attempt)


def _shares(summary: Summary, amount: int, services: Services) -> tuple[int, int]:
    """Tax and fee shares as for any refund, as far as the captured amount reaches."""
    room = max(0, summary.captured_amount - summary.reserved_amount)
    if summary.captured_amount <= 0 or room == 0:
        return 0, 0
    shares = allocate_on(summary, min(amount, room), services.policy.fee_policy)
    return shares.tax, shares.fee


def _reserve(builder: ChangeBuilder, services: Services, payout: ExternalPayout) -> Refund:
    summary = builder.summary
    tax, fee = _shares(summary, payout.amount, services)
    rid = make_refund_id(summary.transaction_id, summary.refund_count + 1)
    amounts = RefundAmounts(rid, payout.amount, tax, fee)
    entry = builder.add_entry(lambda ctx: refund_pending_entry(ctx, amounts))
    builder.audit(
        AuditAction.REFUND_PENDING,
        refund_id=rid,
        amount=payout.amount,
        currency=summary.currency,
        details={
            "entry_id": entry.entry_id,
            "external": True,
            "processor_reference": payout.processor_reference,
        },
    )
    return Refund(
        refund_id=rid,
        transaction_id=summary.transaction_id,
        status=RefundStatus.PENDING,
        amount=payout.amount,
        currency=summary.currency,
        tax_amount=tax,
        fee_amount=fee,
        reason="other",
        created_at=builder.now,
        updated_at=builder.now,
        initiator_id=builder.initiator.id,
        metadata={"external": True},
        entry_seqs=(entry.seq,),
    )
