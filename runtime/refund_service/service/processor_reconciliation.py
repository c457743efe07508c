"""Processor reconciliation (SPEC 3.1): the processor's own record of refunds against the ledger.

The processor is where money moves, so a payout it lists that the ledger lacks is booked as a
succeeded refund. Every other difference is reported, never silently passed over: a payout
for a refund the ledger does not know, a payout for another amount, a payout for a refund the
ledger rolled back, and a refund the ledger says succeeded that the processor never paid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from refund_service import observability_names as names
from refund_service.domain.audit import Initiator
from refund_service.domain.errors import DomainError
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRecord,
    ProcessorStatus,
    normalized,
)
from refund_service.domain.refund import Refund, RefundStatus
from refund_service.service.context import Caller, Services
from refund_service.service.external_payouts import ExternalPayout, book_external_payout
from refund_service.service.processor_calls import processor_says_paid
from refund_service.service.settlement import settle

SYSTEM_PROCESSOR_RECONCILER = Initiator("system", "processor-reconciler")


@dataclass(frozen=True)
class Mismatch:
    """One refund the processor and the ledger disagree on, in words."""

    refund_id: str | None
    processor_reference: str
    problem: str


@dataclass
class ProcessorReconcileReport:
    supported: bool = True  # False when the processor cannot list its refunds
    listed: int = 0
    agreed: int = 0
    booked: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "supported": self.supported,
            "listed": self.listed,
            "agreed": self.agreed,
            "booked": list(self.booked),
            "mismatches": [vars(m) for m in self.mismatches],
        }


def reconcile_processor(
    services: Services, since: datetime, until: datetime
) -> ProcessorReconcileReport:
    """Compare what the processor paid in [since, until) with the ledger, and act on it."""
    report = ProcessorReconcileReport()
    listed = services.processor.refunds_between(since, until)
    if listed is None:
        report.supported = False
        return report
    seen: set[str] = set()
    for record in listed:
        report.listed += 1
        seen.update(filter(None, (record.refund_id, record.processor_reference)))
        if record.status is ProcessorStatus.SUCCEEDED:
            _check_payout(services, record, report)
        elif record.status is ProcessorStatus.FAILED:
            _check_failure(services, record, report)
    for transaction_id, refund_id in services.store.refunds_created_between(since, until):
        if refund_id not in seen:
            _check_unlisted(services, transaction_id, refund_id, seen, report)
    if report.mismatches:
        services.metrics.count(names.PROCESSOR_MISMATCH, len(report.mismatches))
    if report.booked:
        services.metrics.count(names.PROCESSOR_PAYOUTS_BOOKED, len(report.booked))
    return report


def _check_unlisted(
    services: Services,
    transaction_id: str,
    refund_id: str,
    seen: set[str],
    report: ProcessorReconcileReport,
) -> None:
    """The other way: a refund the ledger has as paid that the processor's list lacks. The
    list may have missed it at the window's edge (the processor dates a refund a moment after
    the ledger does), so the processor is asked about it before it is reported."""
    refund = services.store.load(transaction_id).refunds.get(refund_id)
    if refund is None or refund.status is not RefundStatus.SUCCESS:
        return
    reference = (refund.processor or {}).get("processor_reference")
    if reference in seen:
        return  # a payout booked from the processor's own record, listed under its reference
    if processor_says_paid(services.processor, refund):
        report.agreed += 1
        return
    report.mismatches.append(
        Mismatch(refund.refund_id, reference or "", "paid in the ledger, unknown to the processor")
    )


def _check_failure(
    services: Services, record: ProcessorRefundRecord, report: ProcessorReconcileReport
) -> None:
    """A refund the processor lists as failed that the ledger has as paid: reported; the
    processor's failure notification is what reverses it."""
    refund = _ledger_refund(services, record.refund_id)
    if refund is not None and refund.status is RefundStatus.SUCCESS:
        report.mismatches.append(
            Mismatch(refund.refund_id, record.processor_reference, "failed at the processor")
        )


def _check_payout(
    services: Services, record: ProcessorRefundRecord, report: ProcessorReconcileReport
) -> None:
    refund = _ledger_refund(services, record.refund_id)
    if refund is None:
        _book_external(services, record, report)
        return
    if (refund.amount, refund.currency) != (record.amount, record.currency):
        problem = (
            f"processor paid {record.amount} {record.currency}, "
            f"ledger has {refund.amount} {refund.currency}"
        )
        report.mismatches.append(Mismatch(refund.refund_id, record.processor_reference, problem))
        return
    if refund.status is RefundStatus.SUCCESS:
        report.agreed += 1
    elif refund.status is RefundStatus.ROLLED_BACK:
        report.mismatches.append(
            Mismatch(refund.refund_id, record.processor_reference, "paid, but rolled back")
        )
    else:
        _book_payout(services, refund, record, report)


def _ledger_refund(services: Services, refund_id: str | None) -> Refund | None:
    if not refund_id:
        return None
    transaction_id = services.store.find_refund(refund_id)
    if transaction_id is None:
        return None
    return services.store.load(transaction_id).refunds.get(refund_id)


def _book_payout(
    services: Services,
    refund: Refund,
    record: ProcessorRefundRecord,
    report: ProcessorReconcileReport,
) -> None:
    result = normalized(
        ProcessorCode.APPROVED,
        record.processor,
        reference=record.processor_reference,
        processor_message="listed as paid by the processor's refund records",
    )
    caller = Caller(SYSTEM_PROCESSOR_RECONCILER)
    try:
        settled, _ = settle(services, refund.transaction_id, refund.refund_id, result, caller)
    except DomainError as error:  # contention: the next run books it
        report.mismatches.append(
            Mismatch(refund.refund_id, record.processor_reference, f"not booked: {error.message}")
        )
        return
    if settled.status is RefundStatus.SUCCESS:
        report.booked.append(refund.refund_id)
    else:
        problem = f"paid at the processor, {settled.status.value} in the ledger"
        report.mismatches.append(Mismatch(refund.refund_id, record.processor_reference, problem))


def _book_external(
    services: Services, record: ProcessorRefundRecord, report: ProcessorReconcileReport
) -> None:
    """A payout no refund of ours names: booked on its payment when that is known here."""
    transaction_id = None
    if record.refund_id is None and record.payment_reference:
        reference = record.payment_reference
        transaction_id = services.store.find_payment(reference) or reference
    booked = None
    if transaction_id is not None:
        payout = ExternalPayout(
            transaction_id,
            record.amount,
            record.currency,
            record.processor,
            record.processor_reference,
        )
        booked = book_external_payout(services, payout, Caller(SYSTEM_PROCESSOR_RECONCILER))
    if booked is None:
        report.mismatches.append(
            Mismatch(record.refund_id, record.processor_reference, "payout unknown to the ledger")
        )
    elif booked.new:
        report.booked.append(booked.refund.refund_id)
    else:
        report.agreed += 1
