"""Refund events (SPEC 4.2): what one committed ledger entry means to downstream systems.

One event per entry that changes money state; none for bookkeeping entries (TAX, FEE,
FEE_REVERSAL, FX_ADJUSTMENT) or for the parts of a reversal other than the one that takes back
the payout. The event id is derived from the entry id, so every redelivery of the same stream
record carries the same id. The detail holds ids, amounts, status and time: no personal data.
docs/events.md documents each detail-type's schema and the choices made here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from refund_service.domain.audit import AuditAction, AuditRecord
from refund_service.domain.ledger import Entry, EntryType, PaymentStatus
from refund_service.domain.refund import RefundStatus

EVENT_SOURCE = "refund-service"
# uuid5 namespace for event ids: the same entry always names the same event.
_EVENT_NAMESPACE = uuid.UUID("6f1c7a52-3b8e-4c59-9a55-0f1e2d3c4b5a")

PAYMENT_RECORDED = "payment.recorded"
PAYMENT_COMPLETED = "payment.completed"
REFUND_PENDING = "refund.pending"
REFUND_SUCCEEDED = "refund.succeeded"
REFUND_FAILED = "refund.failed"
REFUND_ROLLED_BACK = "refund.rolled_back"
REFUND_REVERSED = "refund.reversed"
CHARGEBACK_RECORDED = "chargeback.recorded"
CHARGEBACK_RESOLVED = "chargeback.resolved"
DETAIL_TYPES = (
    PAYMENT_RECORDED,
    PAYMENT_COMPLETED,
    REFUND_PENDING,
    REFUND_SUCCEEDED,
    REFUND_FAILED,
    REFUND_ROLLED_BACK,
    REFUND_REVERSED,
    CHARGEBACK_RECORDED,
    CHARGEBACK_RESOLVED,
)


@dataclass(frozen=True)
class RefundEvent:
    event_id: str
    detail_type: str
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "detail_type": self.detail_type, "detail": self.detail}


class EventSink(Protocol):
    def publish(self, events: list[RefundEvent]) -> None:
        """Publish every event, in order, or raise: nothing is reported published that was not."""
        ...


def event_id_for(entry_id: str) -> str:
    return f"evt_{uuid.uuid5(_EVENT_NAMESPACE, entry_id).hex}"


def _payment(entry: Entry) -> tuple[str, str] | None:
    status = entry.payment_status or PaymentStatus.COMPLETED
    # The first PAYMENT records the payment; a later one is the capture of a pending payment.
    kind = PAYMENT_RECORDED if entry.seq == 1 else PAYMENT_COMPLETED
    return kind, status.value


def _reversal(entry: Entry, audit: Iterable[AuditRecord]) -> tuple[str, str] | None:
    """A refund's payout taken back: by a rollback, or by the processor (a failure or reversal
    reported after success). The audit record written with the reversal says which."""
    if entry.reverses_type is not EntryType.REFUND_PAID or entry.refund_id is None:
        return None  # the other parts of the same reversal, or a void taken back by a late payout
    for record in audit:
        written = (record.details or {}).get("entries")
        if isinstance(written, list) and entry.entry_id in written:
            if record.action is AuditAction.REFUND_ROLLED_BACK:
                return REFUND_ROLLED_BACK, RefundStatus.ROLLED_BACK.value
            return REFUND_REVERSED, RefundStatus.FAILED.value
    return REFUND_REVERSED, RefundStatus.FAILED.value


_SIMPLE = {
    EntryType.REFUND_PENDING: (REFUND_PENDING, RefundStatus.PENDING.value),
    EntryType.REFUND_PAID: (REFUND_SUCCEEDED, "succeeded"),
    EntryType.REFUND_VOID: (REFUND_FAILED, RefundStatus.FAILED.value),
    EntryType.CHARGEBACK: (CHARGEBACK_RECORDED, "open"),
    EntryType.CHARGEBACK_REVERSAL: (CHARGEBACK_RESOLVED, "won"),
}


def event_for(entry: Entry, audit: Iterable[AuditRecord] = ()) -> RefundEvent | None:
    """The event one committed entry publishes, or None when it changes no money state."""
    if entry.type is EntryType.PAYMENT:
        kind = _payment(entry)
    elif entry.type is EntryType.REVERSAL:
        kind = _reversal(entry, audit)
    else:
        kind = _SIMPLE.get(entry.type)
    if kind is None:
        return None
    detail_type, status = kind
    event_id = event_id_for(entry.entry_id)
    detail = {
        "event_id": event_id,
        "transaction_id": entry.transaction_id,
        "refund_id": entry.refund_id,
        "amount": entry.amount,
        "currency": entry.currency,
        "status": status,
        "occurred_at": entry.created_at,
    }
    return RefundEvent(event_id, detail_type, detail)
