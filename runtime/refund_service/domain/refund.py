"""A refund's own record: what was asked, what the processor said, where it stands."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from refund_service.domain.ledger import FxQuote


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class RefundReason(StrEnum):
    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    OTHER = "other"


@dataclass(frozen=True)
class Refund:
    refund_id: str
    transaction_id: str
    status: RefundStatus
    amount: int
    currency: str
    tax_amount: int
    fee_amount: int
    reason: str
    created_at: str
    updated_at: str
    initiator_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    processor: dict[str, Any] | None = None  # the normalized ProcessorResult, as a dict
    entry_seqs: tuple[int, ...] = ()
    requested_amount: int | None = None  # when asked in another currency
    requested_currency: str | None = None
    conversion: FxQuote | None = None
    pending_since: str | None = None
    # After this moment the request that reserved the refund can no longer reach the
    # processor: only then may "the processor never saw it" void the refund (SPEC 3.1).
    send_deadline: str | None = None
    idempotency_key: str | None = None  # a digest of the caller's key, never the key itself
    payment_reference: str | None = None  # the processor's id of the refunded payment
    # What its FX_ADJUSTMENT entries booked, in the payment's settlement currency: the daily
    # report sums it from the refund records alone.
    fx_adjustment_amount: int = 0
