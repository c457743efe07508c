"""Disputes as facts (SPEC 3.1): what a chargeback books, and how it is resolved.

A chargeback is the processor taking money back. It is booked in full, up to what was captured
and is not already under a standing chargeback, whatever was refunded or is pending. While
one stands nothing is refundable. A dispute the merchant wins books CHARGEBACK_REVERSAL and
what was refundable before is refundable again; a lost one books nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.ledger import PaymentStatus
from refund_service.domain.summary import Summary


class ChargebackStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class DisputeOutcome(StrEnum):
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True)
class Chargeback:
    chargeback_id: str
    amount: int  # what was booked
    status: ChargebackStatus
    opened_at: str
    requested_amount: int | None = None  # what the dispute claimed, when more than was booked
    reason: str | None = None
    processor_reference: str | None = None
    resolved_at: str | None = None

    def resolved(self, outcome: DisputeOutcome, now: str) -> Chargeback:
        return replace(self, status=ChargebackStatus(outcome.value), resolved_at=now)


def _refusal(code: ErrorCode, message: str, transaction_id: str) -> DomainError:
    return DomainError(code, message, {"transaction_id": transaction_id})


def chargeback_amount(summary: Summary, requested: int | None) -> int:
    """What a new chargeback books: the amount asked (default: all captured), capped by what
    is captured and not already charged back. Refunds and pending refunds do not reduce it."""
    tid = summary.transaction_id
    if not summary.exists:
        raise _refusal(ErrorCode.TRANSACTION_NOT_FOUND, "Transaction not found.", tid)
    if summary.payment_status is PaymentStatus.PENDING:
        raise _refusal(
            ErrorCode.TRANSACTION_PENDING,
            "The payment is not completed; there is nothing to charge back.",
            tid,
        )
    if summary.payment_status is not PaymentStatus.COMPLETED:
        raise _refusal(
            ErrorCode.TRANSACTION_NOT_REFUNDABLE,
            "The payment did not complete; there is nothing to charge back.",
            tid,
        )
    if requested is not None and not 0 < requested <= summary.captured_amount:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            f"A chargeback amount lies between 1 and the captured amount "
            f"({summary.captured_amount}).",
            {"field": "amount", "captured_amount": summary.captured_amount},
        )
    open_to_dispute = summary.captured_amount - summary.chargeback_amount
    wanted = summary.captured_amount if requested is None else requested
    return min(wanted, open_to_dispute)


def check_resolvable(
    chargebacks: dict[str, Chargeback], chargeback_id: str, transaction_id: str
) -> Chargeback:
    chargeback = chargebacks.get(chargeback_id)
    details = {"transaction_id": transaction_id, "chargeback_id": chargeback_id}
    if chargeback is None:
        raise DomainError(
            ErrorCode.CHARGEBACK_NOT_FOUND, "No such chargeback on this transaction.", details
        )
    if chargeback.status is not ChargebackStatus.OPEN:
        raise DomainError(
            ErrorCode.CHARGEBACK_ALREADY_RESOLVED,
            f"The dispute was already {chargeback.status.value}.",
            {**details, "outcome": chargeback.status.value},
        )
    return chargeback
