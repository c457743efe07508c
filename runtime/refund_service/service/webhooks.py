"""Processor notifications: settle pending refunds, reverse paid ones that failed late, and
record chargebacks. Every branch is idempotent, so a redelivered event changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from refund_service import observability_names as names
from refund_service.domain.audit import AuditAction, Initiator
from refund_service.domain.chargeback import DisputeOutcome
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorResult,
    WebhookEvent,
    WebhookEventKind,
    normalized,
)
from refund_service.domain.refund import RefundStatus
from refund_service.service import unit_of_work
from refund_service.service.changes import ChangeBuilder
from refund_service.service.context import Caller, Services
from refund_service.service.external_payouts import ExternalPayout, book_external_payout
from refund_service.service.payments import (
    ChargebackCommand,
    record_chargeback,
    resolve_chargeback,
)
from refund_service.service.queries import locate_refund
from refund_service.service.settlement import reverse_refund, settle
from refund_service.service.unit_of_work import Decision


class WebhookEventLog(Protocol):
    def seen(self, key: str) -> bool: ...

    def remember(self, key: str) -> None: ...


class WebhookOutcome(StrEnum):
    SETTLED = "settled"
    REVERSED = "reversed"
    CHARGEBACK_RECORDED = "chargeback_recorded"
    CHARGEBACK_RESOLVED = "chargeback_resolved"
    EXTERNAL_PAYOUT = "external_payout"  # a payout made at the processor: booked as a refund
    LATE_SUCCESS = "late_success"  # the processor paid a refund the ledger had failed: booked
    UNCHANGED = "unchanged"
    IGNORED = "ignored"
    REPLAYED = "replayed"
    UNKNOWN_REFUND = "unknown_refund"
    CONFLICT = "conflict"  # the processor says paid what the ledger reversed: someone looks


@dataclass(frozen=True)
class HandledEvent:
    event_id: str
    kind: WebhookEventKind
    outcome: WebhookOutcome


def _caller(event: WebhookEvent) -> Caller:
    return Caller(Initiator("system", f"webhook:{event.processor}"), event.event_id)


def _late_failure(
    services: Services, transaction_id: str, refund_id: str, event: WebhookEvent
) -> WebhookOutcome:
    """A refund the processor paid, then failed or took back: REVERSAL entries, status failed."""

    def decide(builder: ChangeBuilder) -> Decision[WebhookOutcome]:
        refund = builder.state.refunds.get(refund_id)
        if refund is None or refund.status is not RefundStatus.SUCCESS:
            return Decision(WebhookOutcome.UNCHANGED)
        details = {
            "reason": event.reason or event.event_type,
            "event_type": event.event_type,
            "event_id": event.event_id,
            "processor": event.result.as_dict() if event.result else None,
        }
        reversed_refund = reverse_refund(
            builder, refund, RefundStatus.FAILED, AuditAction.REFUND_FAILED, details
        )
        builder.put_refund(reversed_refund)
        return Decision(WebhookOutcome.REVERSED, builder.build(as_fact=True))

    return unit_of_work.change(services, transaction_id, _caller(event), decide)


def _failure_result(event: WebhookEvent) -> ProcessorResult:
    return event.result or normalized(
        ProcessorCode.DECLINED, event.processor, processor_code=event.event_type
    )


def _external_payout(services: Services, event: WebhookEvent) -> WebhookOutcome:
    """A payout for the payment that no refund of ours asked for: booked as a fact."""
    transaction_id = event.transaction_id or _transaction_of_payment(services, event)
    reference = event.result.processor_reference if event.result else None
    if not (transaction_id and reference and event.amount and event.currency):
        return WebhookOutcome.UNKNOWN_REFUND
    payout = ExternalPayout(
        transaction_id, event.amount, event.currency, event.processor, reference
    )
    if book_external_payout(services, payout, _caller(event)) is None:
        return WebhookOutcome.UNKNOWN_REFUND
    return WebhookOutcome.EXTERNAL_PAYOUT


def _refund_event(services: Services, event: WebhookEvent) -> WebhookOutcome:
    if not event.refund_id:
        if event.kind is WebhookEventKind.REFUND_SUCCEEDED:
            return _external_payout(services, event)
        return WebhookOutcome.UNKNOWN_REFUND
    try:
        transaction_id = event.transaction_id or locate_refund(services.store, event.refund_id)
        state = services.store.load(transaction_id)
    except DomainError:
        return WebhookOutcome.UNKNOWN_REFUND
    refund = state.refunds.get(event.refund_id)
    if refund is None:
        return WebhookOutcome.UNKNOWN_REFUND
    if refund.status is RefundStatus.PENDING:
        result = event.result
        if event.kind is not WebhookEventKind.REFUND_SUCCEEDED:
            result = _failure_result(event)
        if result is None:
            return WebhookOutcome.UNCHANGED
        settle(services, transaction_id, refund.refund_id, result, _caller(event), known=state)
        return WebhookOutcome.SETTLED
    if refund.status is RefundStatus.SUCCESS and event.kind in (
        WebhookEventKind.REFUND_FAILED,
        WebhookEventKind.REFUND_REVERSED,
    ):
        return _late_failure(services, transaction_id, refund.refund_id, event)
    if refund.status is RefundStatus.FAILED and event.kind is WebhookEventKind.REFUND_SUCCEEDED:
        result = event.result or normalized(ProcessorCode.APPROVED, event.processor)
        settled, _ = settle(
            services, transaction_id, refund.refund_id, result, _caller(event), known=state
        )
        if settled.status is RefundStatus.SUCCESS:
            return WebhookOutcome.LATE_SUCCESS
        return WebhookOutcome.CONFLICT  # counted by settle: the processor says otherwise now
    return WebhookOutcome.UNCHANGED


def _transaction_of_payment(services: Services, event: WebhookEvent) -> str | None:
    """The transaction a processor payment id names: recorded as its processor_reference
    (any of the ids the event gives for the payment), or, when none was recorded, the
    transaction id itself (what we then send as reference)."""
    if not event.payment_reference:
        return None
    for reference in (event.payment_reference, *event.other_payment_references):
        found = services.store.find_payment(reference)
        if found is not None:
            return found
    return event.payment_reference


_OUTCOMES = {
    WebhookEventKind.CHARGEBACK_WON: DisputeOutcome.WON,
    WebhookEventKind.CHARGEBACK_LOST: DisputeOutcome.LOST,
}


def _chargeback_event(services: Services, event: WebhookEvent) -> WebhookOutcome:
    transaction_id = event.transaction_id or _transaction_of_payment(services, event)
    if not transaction_id:
        services.metrics.count(names.UNMATCHED_DISPUTES)
        return WebhookOutcome.UNKNOWN_REFUND
    command = ChargebackCommand(
        transaction_id,
        event.amount,
        reason=event.reason,
        processor_reference=event.dispute_reference,
        chargeback_id=event.dispute_reference or event.event_id,
        reported_by_processor=True,
    )
    try:
        if event.kind is WebhookEventKind.CHARGEBACK:
            record_chargeback(services, command, _caller(event))
            return WebhookOutcome.CHARGEBACK_RECORDED
        return _dispute_ended(services, command, _OUTCOMES[event.kind], event)
    except DomainError as refusal:
        if refusal.code is ErrorCode.CHARGEBACK_ALREADY_RESOLVED:
            return WebhookOutcome.UNCHANGED
        if refusal.code in _UNMATCHED:
            services.metrics.count(names.UNMATCHED_DISPUTES)
            return WebhookOutcome.UNCHANGED
        raise


def _dispute_ended(
    services: Services, command: ChargebackCommand, outcome: DisputeOutcome, event: WebhookEvent
) -> WebhookOutcome:
    """Resolve the dispute; one whose opening never arrived is recorded as already ended, so
    that an opening delivered later is a replay (the processor does not order its events)."""
    assert command.chargeback_id is not None
    caller = _caller(event)
    try:
        resolve_chargeback(
            services,
            command.transaction_id,
            command.chargeback_id,
            outcome,
            caller,
            reported=True,
        )
    except DomainError as refusal:
        if refusal.code is not ErrorCode.CHARGEBACK_NOT_FOUND:
            raise
        record_chargeback(services, command, caller, ended=outcome)
    return WebhookOutcome.CHARGEBACK_RESOLVED


_UNMATCHED = frozenset(
    {
        ErrorCode.TRANSACTION_NOT_FOUND,
        ErrorCode.CHARGEBACK_NOT_FOUND,
        ErrorCode.TRANSACTION_PENDING,
        ErrorCode.TRANSACTION_NOT_REFUNDABLE,
        ErrorCode.VALIDATION_ERROR,
    }
)
_DISPUTE_KINDS = frozenset(
    {
        WebhookEventKind.CHARGEBACK,
        WebhookEventKind.CHARGEBACK_WON,
        WebhookEventKind.CHARGEBACK_LOST,
    }
)


def handle_event(services: Services, log: WebhookEventLog, event: WebhookEvent) -> HandledEvent:
    """Act on one verified event, once: a replayed event id is acknowledged and ignored."""
    key = f"{event.processor}#{event.event_id}"
    if log.seen(key):
        return HandledEvent(event.event_id, event.kind, WebhookOutcome.REPLAYED)
    if event.kind in _DISPUTE_KINDS:
        outcome = _chargeback_event(services, event)
    elif event.kind is WebhookEventKind.IGNORED:
        outcome = WebhookOutcome.IGNORED
    else:
        outcome = _refund_event(services, event)
    log.remember(key)  # only after acting: a failure above leaves the event to be redelivered
    return HandledEvent(event.event_id, event.kind, outcome)
