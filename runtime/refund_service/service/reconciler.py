"""Step 8: settle refunds left pending too long by asking the processor what became of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from refund_service import observability_names as names
from refund_service.domain.audit import SYSTEM_RECONCILER
from refund_service.domain.errors import DomainError
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorResult,
    ProcessorTimeoutError,
    ProcessorUnavailableError,
    normalized,
)
from refund_service.domain.refund import Refund, RefundStatus
from refund_service.service.context import Caller, Services
from refund_service.service.ports import PendingRefundRef
from refund_service.service.processor_calls import processor_request, send_deadline
from refund_service.service.refunds import kept_answer
from refund_service.service.settlement import settle

NOT_AT_PROCESSOR = "The processor has no record of this refund; the reservation is released."


@dataclass
class ReconcileReport:
    examined: int = 0
    succeeded: list[str] = field(default_factory=list)
    voided: list[str] = field(default_factory=list)
    still_pending: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    oldest_age_seconds: float = 0.0


def _ask(services: Services, refund: Refund) -> ProcessorResult | None:
    """The processor's current answer; a synthetic failure when it never saw the refund and
    no longer can; None when it cannot tell right now.

    "Not found" voids a refund only after its send deadline: before it, the request that
    reserved the refund may still be on its way to the processor (SPEC 3.1).
    """
    try:
        found = services.processor.lookup(processor_request(refund))
    except (ProcessorUnavailableError, ProcessorTimeoutError):
        return None
    if found is None:
        if services.clock() <= send_deadline(refund, services.policy.send_window_seconds):
            return None
        if _acknowledged(refund):  # the processor answered for it once: its lookup is wrong
            services.metrics.count(names.PROCESSOR_MISMATCH)
            return None
        return normalized(
            ProcessorCode.PROCESSOR_UNAVAILABLE,
            services.processor.name,
            processor_message=NOT_AT_PROCESSOR,
        )
    return found


def _acknowledged(refund: Refund) -> bool:
    """Whether the ledger holds an answer the processor gave for this refund, so the processor
    saw it: a reference, or a code other than the ones that say no answer came."""
    recorded = refund.processor or {}
    unanswered = (ProcessorCode.TIMEOUT.value, ProcessorCode.PROCESSOR_UNAVAILABLE.value)
    return bool(recorded.get("processor_reference")) or recorded.get("code", "TIMEOUT") not in (
        unanswered
    )


def _settle_one(services: Services, ref: PendingRefundRef, caller: Caller) -> RefundStatus | None:
    """What became of one refund from the index; None if it was settled meanwhile."""
    state = services.store.load(ref.transaction_id)
    refund = state.refunds.get(ref.refund_id)
    if refund is None or refund.status is not RefundStatus.PENDING:
        return None  # the index lags the table
    result = kept_answer(state, refund.refund_id) or _ask(services, refund)
    if result is None:
        return RefundStatus.PENDING
    try:
        settled, _ = settle(
            services, ref.transaction_id, ref.refund_id, result, caller, known=state
        )
    except DomainError:
        return RefundStatus.PENDING
    return settled.status


def reconcile(
    services: Services, older_than: timedelta, stale_after: timedelta, limit: int = 200
) -> ReconcileReport:
    now = services.clock()
    caller = Caller(SYSTEM_RECONCILER)
    report = ReconcileReport()
    for ref in services.store.pending_refunds(now - older_than, limit):
        report.examined += 1
        age = (now - datetime.fromisoformat(ref.pending_since)).total_seconds()
        report.oldest_age_seconds = max(report.oldest_age_seconds, age)
        status = _settle_one(services, ref, caller)
        if status is None:
            continue
        if status is RefundStatus.SUCCESS:
            report.succeeded.append(ref.refund_id)
        elif status is RefundStatus.FAILED:
            report.voided.append(ref.refund_id)
        else:
            report.still_pending.append(ref.refund_id)
            if age >= stale_after.total_seconds():
                report.stale.append(ref.refund_id)
    services.metrics.count(names.STALE_PENDING_REFUNDS, len(report.stale))
    services.metrics.measure(names.PENDING_REFUND_AGE, report.oldest_age_seconds, "Seconds")
    return report
