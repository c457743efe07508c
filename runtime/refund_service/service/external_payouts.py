"""Payouts the processor made that no refund of ours asked for (a refund made in the
processor's dashboard, say). SPEC 3.1: every payout is booked, however the service learns it,
so each becomes a succeeded refund of the payment, once per processor reference."""

from __future__ import annotations

from dataclasses import dataclass

from refund_service.domain.allocation import RefundShares, allocate_refund
from refund_service.domain.processor import ProcessorCode, normalized
from refund_service.domain.refund import Refund
from refund_service.domain.summary import Summary
from refund_service.service import unit_of_work
from refund_service.service.changes import ChangeBuilder, reserve_refund
from refund_service.service.context import Caller, Services
from refund_service.service.settlement import outcome_counts, record_outcome
from refund_service.service.unit_of_work import Decision


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

    def decide(builder: ChangeBuilder) -> Decision[BookedPayout | None]:
        state = builder.state
        summary = state.summary
        if not summary.exists or payout.currency != summary.currency or payout.amount <= 0:
            return Decision(None)
        known = next(
            (
                r
                for r in state.refunds.values()
                if (r.processor or {}).get("processor_reference") == payout.processor_reference
            ),
            None,
        )
        if known is not None:
            return Decision(BookedPayout(known, new=False))
        reserved = reserve_refund(
            builder,
            payout.amount,
            _shares(summary, payout.amount, services),
            pending={"external": True, "processor_reference": payout.processor_reference},
            reason="other",
            metadata={"external": True},
        )
        result = normalized(
            ProcessorCode.APPROVED,
            payout.processor,
            reference=payout.processor_reference,
            processor_message="a refund made at the processor, not through this service",
        )
        settled = record_outcome(builder, services, reserved, result)
        builder.put_refund(settled)
        return Decision(
            BookedPayout(settled, new=True),
            builder.build(as_fact=True),
            outcome_counts(settled, result, builder.summary),
        )

    return unit_of_work.change(services, payout.transaction_id, caller, decide)


def _shares(summary: Summary, amount: int, services: Services) -> RefundShares:
    """Tax and fee shares as for any refund, as far as the captured amount reaches."""
    room = max(0, summary.captured_amount - summary.reserved_amount)
    if summary.captured_amount <= 0 or room == 0:
        return RefundShares(tax=0, fee=0)
    return allocate_refund(summary, min(amount, room), services.policy.fee_policy)
