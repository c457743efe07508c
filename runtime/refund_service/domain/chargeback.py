"""Disputes as facts (SPEC 3.1): what a chargeback books, and how it is resolved.

A chargeback is the processor taking money back. It is booked in full, up to what was captured
and is not already under a standing chargeback, whatever was refunded or is pending. While
one stands nothing is refundable. A dispute the merchant wins books CHARGEBACK_REVERSAL and
what was refundable before is refundable again; a lost one books nothing more, unless the
processor later reports it won after all (an appeal), which books the reversal then.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    amount: int  # what is booked
    status: ChargebackStatus
    opened_at: str
    requested_amount: int | None = None  # what the dispute claims

    reason: str | None = None
    processor_reference: str | None = None
    resolved_at: str | None = None

    @property
    def shortfall(self) -> int:
        """What the dispute claims beyond what is booked for it."""
        return max(0, (self.requested_amount or self.amount) - self.amount)

    def resolved(self, outcome: DisputeOutcome, now: str) -> Chargeback:
        return replace(self, status=ChargebackStatus(outcome.value), resolved_at=now)


def _refusal(code: ErrorCode, message: str, transaction_id: str) -> DomainError:
    return DomainError(code, message, {"transaction_id": transaction_id})


def chargeback_amount(
    summary: Summary, requested: int | None, *, reported: bool = False
) -> tuple[int, int]:
    """(claimed, booked) for a new chargeback: it claims the amount asked (default: all
    captured) and books that, capped by what is captured and not already charged back.
    Refunds and pending refunds do not reduce it. `reported`: the processor reports it, so it
    had captured the payment whatever the ledger says yet, and a claim above the captured
    amount is capped rather than refused."""
    tid = summary.transaction_id
    if not summary.exists:
        raise _refusal(ErrorCode.TRANSACTION_NOT_FOUND, "Transaction not found.", tid)
    if reported and requested is not None and requested > summary.captured_amount:
        requested = summary.captured_amount
    if summary.payment_status is PaymentStatus.PENDING and not reported:
        raise _refusal(
            ErrorCode.TRANSACTION_PENDING,
            "The payment is not completed; there is nothing to charge back.",
            tid,
        )
    if summary.payment_status not in (PaymentStatus.COMPLETED, PaymentStatus.PENDING):
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
    return wanted, min(wanted, open_to_dispute)


def new_chargeback(
    chargeback_id: str,
    claimed: int,
    booked: int,
    now: str,
    *,
    ended: DisputeOutcome | None = None,
    reason: str | None = None,
    processor_reference: str | None = None,
) -> Chargeback:
    """A dispute as first recorded. One whose outcome arrived before its opening is recorded
    as ended: a won one books nothing (the funds are back already), a lost one stands."""
    return Chargeback(
        chargeback_id,
        0 if ended is DisputeOutcome.WON else booked,
        ChargebackStatus(ended.value) if ended else ChargebackStatus.OPEN,
        now,
        requested_amount=claimed,
        reason=reason,
        processor_reference=processor_reference,
        resolved_at=now if ended else None,
    )


def top_ups(
    chargebacks: Mapping[str, Chargeback], won_id: str, summary: Summary
) -> list[tuple[Chargeback, int]]:
    """Once the dispute `won_id` is won (its reversal is in `summary`): the other disputes
    still standing that could not be booked in full while it held the amount, oldest first,
    each with what it books now, up to what is captured. What the processor has taken back
    stays charged back."""
    room = summary.captured_amount - summary.chargeback_amount
    booked: list[tuple[Chargeback, int]] = []
    for cid, other in sorted(chargebacks.items(), key=lambda kv: kv[1].opened_at):
        if cid == won_id or other.status is ChargebackStatus.WON:
            continue
        more = min(other.shortfall, room)
        if more > 0:
            booked.append((other, more))
            room -= more
    return booked


def chargeback_conflict(transaction_id: str) -> DomainError:
    return _refusal(
        ErrorCode.CHARGEBACK_CONFLICT,
        "The payment has a chargeback; it cannot be refunded as well.",
        transaction_id,
    )


def check_no_open_dispute(chargebacks: Mapping[str, Chargeback], transaction_id: str) -> None:
    """While any dispute is open nothing is refunded, whatever is booked for it."""
    if any(c.status is ChargebackStatus.OPEN for c in chargebacks.values()):
        raise chargeback_conflict(transaction_id)


def check_resolvable(
    chargebacks: dict[str, Chargeback],
    chargeback_id: str,
    transaction_id: str,
    outcome: DisputeOutcome,
    *,
    reported: bool = False,
) -> Chargeback:
    """The open dispute to resolve. A lost one too, when the processor reports it won: an
    appeal (Stripe) or arbitration the merchant won after losing returns the funds, and the
    ledger must follow (`reported`: the processor says so, not a caller of the API)."""
    chargeback = chargebacks.get(chargeback_id)
    details = {"transaction_id": transaction_id, "chargeback_id": chargeback_id}
    if chargeback is None:
        raise DomainError(
            ErrorCode.CHARGEBACK_NOT_FOUND, "No such chargeback on this transaction.", details
        )
    appeal_won = (
        reported and chargeback.status is ChargebackStatus.LOST and outcome is DisputeOutcome.WON
    )
    if chargeback.status is not ChargebackStatus.OPEN and not appeal_won:
        raise DomainError(
            ErrorCode.CHARGEBACK_ALREADY_RESOLVED,
            f"The dispute was already {chargeback.status.value}.",
            {**details, "outcome": chargeback.status.value},
        )
    return chargeback
