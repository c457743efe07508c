"""The processor port and its normalized result (SPEC section 5).

Every processor adapter answers with a `ProcessorResult`; the service never sees a vendor's
own shapes. The processor's reference, code and message ride along for the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class ProcessorStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"


class ProcessorCode(StrEnum):
    APPROVED = "APPROVED"
    PENDING = "PENDING"
    DECLINED = "DECLINED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    EXPIRED_OR_CANCELED_CARD = "EXPIRED_OR_CANCELED_CARD"
    LOST_OR_STOLEN_CARD = "LOST_OR_STOLEN_CARD"
    DISPUTED = "DISPUTED"
    ALREADY_REFUNDED = "ALREADY_REFUNDED"
    INVALID_REQUEST = "INVALID_REQUEST"
    AUTHENTICATION_ERROR = "AUTHENTICATION_ERROR"
    RATE_LIMITED = "RATE_LIMITED"
    PROCESSOR_UNAVAILABLE = "PROCESSOR_UNAVAILABLE"
    TIMEOUT = "TIMEOUT"
    UNKNOWN = "UNKNOWN"


STANDARD_MESSAGES: dict[ProcessorCode, str] = {
    ProcessorCode.APPROVED: "Refund approved by processor.",
    ProcessorCode.PENDING: "Refund accepted by processor; the result will follow.",
    ProcessorCode.DECLINED: "Refund declined by processor.",
    ProcessorCode.INSUFFICIENT_FUNDS: "Refund declined: insufficient funds.",
    ProcessorCode.EXPIRED_OR_CANCELED_CARD: "Refund declined: the card is expired or canceled.",
    ProcessorCode.LOST_OR_STOLEN_CARD: "Refund declined: the card was reported lost or stolen.",
    ProcessorCode.DISPUTED: "Refund declined: the payment is disputed.",
    ProcessorCode.ALREADY_REFUNDED: "Refund declined: the payment is already refunded.",
    ProcessorCode.INVALID_REQUEST: "Refund rejected by processor as invalid.",
    ProcessorCode.AUTHENTICATION_ERROR: "Processor rejected our credentials.",
    ProcessorCode.RATE_LIMITED: "Processor is rate limiting requests; retry later.",
    ProcessorCode.PROCESSOR_UNAVAILABLE: "Processor unavailable; nothing was sent.",
    ProcessorCode.TIMEOUT: "Processor did not answer in time; the refund will be reconciled.",
    ProcessorCode.UNKNOWN: "Processor returned an unrecognized result.",
}

RETRYABLE_CODES = frozenset(
    {
        ProcessorCode.RATE_LIMITED,
        ProcessorCode.PROCESSOR_UNAVAILABLE,
        ProcessorCode.TIMEOUT,
        ProcessorCode.PENDING,
    }
)


# Answers that say the call itself went wrong, not what the processor decided: the processor
# failure rate counts these.
CALL_FAILURES = frozenset(
    {
        ProcessorCode.PROCESSOR_UNAVAILABLE,
        ProcessorCode.TIMEOUT,
        ProcessorCode.RATE_LIMITED,
        ProcessorCode.AUTHENTICATION_ERROR,
        ProcessorCode.INVALID_REQUEST,
        ProcessorCode.UNKNOWN,
    }
)


@dataclass(frozen=True)
class ProcessorResult:
    status: ProcessorStatus
    code: ProcessorCode
    retryable: bool
    message: str
    processor: str
    processor_reference: str | None = None
    processor_code: str | None = None
    processor_message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in asdict(self).items()}


_STATUS_OF_CODE = {
    ProcessorCode.APPROVED: ProcessorStatus.SUCCEEDED,
    ProcessorCode.PENDING: ProcessorStatus.PENDING,
    ProcessorCode.TIMEOUT: ProcessorStatus.PENDING,
}


def normalized(
    code: ProcessorCode,
    processor: str,
    *,
    reference: str | None = None,
    processor_code: str | None = None,
    processor_message: str | None = None,
) -> ProcessorResult:
    """The normalized result for a code, with its standard message and retryable flag."""
    return ProcessorResult(
        status=_STATUS_OF_CODE.get(code, ProcessorStatus.FAILED),
        code=code,
        retryable=code in RETRYABLE_CODES,
        message=STANDARD_MESSAGES[code],
        processor=processor,
        processor_reference=reference,
        processor_code=processor_code,
        processor_message=processor_message,
    )


def result_from_dict(data: dict[str, Any]) -> ProcessorResult:
    return ProcessorResult(
        status=ProcessorStatus(data["status"]),
        code=ProcessorCode(data["code"]),
        retryable=bool(data["retryable"]),
        message=str(data["message"]),
        processor=str(data["processor"]),
        processor_reference=data.get("processor_reference"),
        processor_code=data.get("processor_code"),
        processor_message=data.get("processor_message"),
    )


@dataclass(frozen=True)
class ProcessorRefundRequest:
    refund_id: str  # also the idempotency key of every request to the processor
    transaction_id: str
    amount: int
    currency: str
    reason: str
    payment_reference: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # No attempt may start that could still reach the processor after this moment: past it
    # the ledger may declare the refund unsent (SPEC 3.1, the send deadline).
    send_by: datetime | None = None


@dataclass(frozen=True)
class ProcessorRefundRecord:
    """One refund as the processor's own records list it, for processor reconciliation."""

    processor: str
    processor_reference: str
    refund_id: str | None  # our refund id, where the processor kept it
    amount: int
    currency: str
    status: ProcessorStatus
    created_at: str  # ISO 8601, UTC
    payment_reference: str | None = None  # the processor's id of the refunded payment


class ProcessorUnavailableError(Exception):
    """Nothing reached the processor: the refund was not sent and may safely be voided."""


class ProcessorTimeoutError(Exception):
    """The request may have reached the processor but no answer came: outcome unknown."""


class RefundProcessor(Protocol):
    name: str

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        """Ask for the refund, with `request.refund_id` as the idempotency key.

        Raises ProcessorUnavailableError when nothing was sent, ProcessorTimeoutError when
        the outcome is unknown.
        """
        ...

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        """What the processor knows of this refund now; None if it never saw it."""
        ...

    def refunds_between(
        self, since: datetime, until: datetime
    ) -> Iterable[ProcessorRefundRecord] | None:
        """Every refund the processor created in [since, until); None if it cannot list them."""
        ...


class WebhookEventKind(StrEnum):
    REFUND_SUCCEEDED = "refund_succeeded"
    REFUND_FAILED = "refund_failed"  # declined, or failed after an earlier success
    REFUND_REVERSED = "refund_reversed"  # paid, then taken back by the processor
    CHARGEBACK = "chargeback"  # a dispute opened: its amount is taken back
    CHARGEBACK_WON = "chargeback_won"  # the merchant won: the disputed amount comes back
    CHARGEBACK_LOST = "chargeback_lost"  # the merchant lost: the chargeback stands for good
    IGNORED = "ignored"


@dataclass(frozen=True)
class WebhookEvent:
    """A processor notification, classified by its event type, in our own terms."""

    processor: str
    event_id: str
    kind: WebhookEventKind
    event_type: str
    refund_id: str | None = None
    transaction_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    result: ProcessorResult | None = None
    reason: str | None = None
    payment_reference: str | None = None  # the processor's payment id (pi_/ch_, pspReference)
    other_payment_references: tuple[str, ...] = ()  # more ids of the same payment (ch_ for pi_)
    dispute_reference: str | None = None  # shared by every event of one dispute: chargeback_id
