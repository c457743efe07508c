"""What every call to the processor about one refund is built from: the request and its
send deadline (SPEC 3.1)."""

from __future__ import annotations

from datetime import datetime, timedelta

from refund_service.domain.processor import (
    ProcessorRefundRequest,
    ProcessorStatus,
    ProcessorTimeoutError,
    ProcessorUnavailableError,
    RefundProcessor,
)
from refund_service.domain.refund import Refund

SEND_MARGIN = timedelta(seconds=5)  # clock skew between the sender and whoever checks after


def send_deadline(refund: Refund, policy_window: float) -> datetime:
    """The moment after which the request that reserved `refund` can no longer reach the
    processor. Refunds reserved before deadlines were recorded count from their creation."""
    if refund.send_deadline:
        return datetime.fromisoformat(refund.send_deadline)
    return datetime.fromisoformat(refund.created_at) + timedelta(seconds=policy_window)


def processor_request(refund: Refund, send_by: datetime | None = None) -> ProcessorRefundRequest:
    return ProcessorRefundRequest(
        refund_id=refund.refund_id,
        transaction_id=refund.transaction_id,
        amount=refund.amount,
        currency=refund.currency,
        reason=refund.reason,
        payment_reference=refund.payment_reference or refund.transaction_id,
        metadata=refund.metadata,
        send_by=send_by,
    )


def processor_says_paid(processor: RefundProcessor, refund: Refund) -> bool:
    """Whether the processor's own record holds the refund as paid now; False when it cannot
    tell (a lookup that fails says nothing)."""
    try:
        found = processor.lookup(processor_request(refund))
    except (ProcessorUnavailableError, ProcessorTimeoutError):
        return False
    return found is not None and found.status is ProcessorStatus.SUCCEEDED
