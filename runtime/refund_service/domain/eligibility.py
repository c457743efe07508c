"""Whether a payment may be refunded, and for how much (step 2 of SPEC section 1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from refund_service.domain.chargeback import Chargeback, chargeback_conflict, check_no_open_dispute
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.ledger import PaymentStatus
from refund_service.domain.summary import Summary

DEFAULT_REFUND_WINDOW_DAYS = 180


@dataclass(frozen=True)
class RefundPolicy:
    window_days: int = DEFAULT_REFUND_WINDOW_DAYS


@dataclass(frozen=True)
class Refundable:
    """A payment that may be refunded, and how much of it is left."""

    transaction_id: str
    remaining: int

    def take(self, amount: int | None) -> int:
        """The amount to refund, or the refusal with its code. `amount` is in the payment's
        currency; None means all that is refundable."""
        wanted = self.remaining if amount is None else amount
        if wanted <= 0:
            raise DomainError(
                ErrorCode.VALIDATION_ERROR, "The amount must be positive.", {"field": "amount"}
            )
        if wanted > self.remaining:
            raise DomainError(
                ErrorCode.AMOUNT_EXCEEDS_REFUNDABLE,
                f"The amount exceeds what is still refundable ({self.remaining}).",
                {
                    "transaction_id": self.transaction_id,
                    "remaining_refundable": self.remaining,
                    "requested": wanted,
                },
            )
        return wanted


def check_refundable(
    summary: Summary,
    chargebacks: Mapping[str, Chargeback],
    now: datetime,
    policy: RefundPolicy,
) -> Refundable:
    """Whether the payment may be refunded at all, or the refusal with its code, in the
    workflow's order: the payment, its disputes, what is left, the window."""
    tid = {"transaction_id": summary.transaction_id}
    if not summary.exists:
        raise DomainError(ErrorCode.TRANSACTION_NOT_FOUND, "Transaction not found.", tid)
    if summary.payment_status is PaymentStatus.PENDING:
        raise DomainError(
            ErrorCode.TRANSACTION_PENDING,
            "The payment is not completed yet; retry once it is.",
            tid,
        )
    if summary.payment_status in (PaymentStatus.FAILED, PaymentStatus.VOIDED):
        raise DomainError(
            ErrorCode.TRANSACTION_NOT_REFUNDABLE,
            f"The payment is {summary.payment_status.value} and cannot be refunded.",
            {**tid, "payment_status": summary.payment_status.value},
        )
    if summary.chargeback_amount > 0:
        raise chargeback_conflict(summary.transaction_id)
    remaining = summary.refundable_amount
    if remaining == 0:
        raise DomainError(
            ErrorCode.ALREADY_REFUNDED,
            "Nothing is left to refund on this payment.",
            {**tid, "remaining_refundable": 0},
        )
    if summary.captured_at is None:
        raise ValueError("a completed payment has a capture time")
    deadline = datetime.fromisoformat(summary.captured_at) + timedelta(days=policy.window_days)
    if now > deadline:
        raise DomainError(
            ErrorCode.REFUND_WINDOW_EXPIRED,
            f"The refund window of {policy.window_days} days has passed.",
            {**tid, "refund_deadline": deadline.isoformat()},
        )
    check_no_open_dispute(chargebacks, summary.transaction_id)
    return Refundable(summary.transaction_id, remaining)
