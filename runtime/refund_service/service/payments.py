"""Recording payments, their completion and chargebacks."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from refund_service.domain.audit import AuditAction, digest
from refund_service.domain.chargeback import (
    Chargeback,
    DisputeOutcome,
    chargeback_amount,
    check_resolvable,
    new_chargeback,
    top_ups,
)
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.fx import parse_rate
from refund_service.domain.ledger import (
    Entry,
    EntryContext,
    EntryType,
    PaymentStatus,
    PaymentTerms,
    chargeback_entry,
    chargeback_reversal_entry,
    fee_entry,
    payment_entry,
    tax_entry,
)
from refund_service.domain.money import validate_currency
from refund_service.domain.summary import Summary
from refund_service.service import unit_of_work
from refund_service.service.changes import ChangeBuilder
from refund_service.service.context import Caller, Services, timestamp
from refund_service.service.ports import Change, TransactionState, after
from refund_service.service.refusals import audited_refusal
from refund_service.service.unit_of_work import Decision, Refusal, over_refund_counts


@dataclass(frozen=True)
class PaymentCommand:
    transaction_id: str
    amount: int
    currency: str
    status: PaymentStatus
    captured_at: str | None = None
    tax_amount: int = 0
    fee_amount: int = 0
    settlement_currency: str | None = None
    fx_rate: str | None = None
    customer_reference: str | None = None
    processor_reference: str | None = None  # the processor's payment id, if not the same

    def request_digest(self) -> str:
        return digest(
            {
                k: (v.value if isinstance(v, PaymentStatus) else v)
                for k, v in asdict(self).items()
                if v is not None
            }
        )


def _invalid(message: str, field: str) -> DomainError:
    return DomainError(ErrorCode.VALIDATION_ERROR, message, {"field": field})


def normalize_moment(value: str, field: str) -> str:
    """An ISO 8601 moment as our UTC timestamp; a moment without offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(f"{field} is not an ISO 8601 date-time.", field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return timestamp(moment)
    except (OverflowError, ValueError):  # e.g. year 1 at +14:00 falls before year 1 in UTC
        raise _invalid(f"{field} is outside the years a timestamp can hold.", field) from None


def _validate(cmd: PaymentCommand, services: Services, now: datetime) -> None:
    validate_currency(cmd.currency)
    if cmd.amount <= 0:
        raise _invalid("amount must be a positive integer in minor units.", "amount")
    for name in ("tax_amount", "fee_amount"):
        value = getattr(cmd, name)
        if not 0 <= value <= cmd.amount:
            raise _invalid(f"{name} must lie between 0 and the amount.", name)
    if (cmd.settlement_currency is None) != (cmd.fx_rate is None):
        raise _invalid("settlement_currency and fx_rate come together.", "fx_rate")
    if cmd.settlement_currency and cmd.fx_rate:
        validate_currency(cmd.settlement_currency)
        try:
            parse_rate(cmd.fx_rate)
        except ValueError:
            raise _invalid("fx_rate must be a positive decimal string.", "fx_rate") from None
        if cmd.settlement_currency != cmd.currency:
            services.rates.quote(cmd.currency, cmd.settlement_currency, now.date())


def record_payment(services: Services, cmd: PaymentCommand, caller: Caller) -> TransactionState:
    """Record a payment; the identical request again returns it, a different one is refused."""
    now = services.clock()
    _validate(cmd, services, now)
    captured_at = normalize_moment(cmd.captured_at, "captured_at") if cmd.captured_at else None

    def decide(builder: ChangeBuilder) -> Decision[TransactionState]:
        state = builder.state
        if state.summary.exists:
            if state.head.request_digest == cmd.request_digest():
                return Decision(state)
            raise DomainError(
                ErrorCode.TRANSACTION_EXISTS,
                "A different payment with this transaction id is already recorded.",
                {"transaction_id": cmd.transaction_id},
            )
        _check_reference_is_free(services, cmd)
        builder.summary = Summary(cmd.transaction_id, version=state.summary.version)
        terms = PaymentTerms(
            cmd.amount,
            cmd.status,
            captured_at or builder.now,
            cmd.tax_amount,
            cmd.fee_amount,
            cmd.settlement_currency,
            _normal_rate(cmd.fx_rate),
            cmd.processor_reference,
        )
        _book_payment(builder, cmd, terms)
        builder.audit(
            AuditAction.PAYMENT_RECORDED,
            amount=cmd.amount,
            currency=cmd.currency,
            details={
                "status": cmd.status.value,
                "tax_amount": cmd.tax_amount,
                "fee_amount": cmd.fee_amount,
                "settlement_currency": cmd.settlement_currency,
                "fx_rate": terms.fx_rate,
            },
        )
        change = builder.build(
            request_digest=cmd.request_digest(),
            customer_reference=cmd.customer_reference,
            payment_reference=cmd.processor_reference or cmd.transaction_id,
        )
        if cmd.processor_reference:
            change = replace(change, payment_aliases=(cmd.processor_reference,))
        return Decision(after(state, change), change)

    return unit_of_work.change(services, cmd.transaction_id, caller, decide)


def _check_reference_is_free(services: Services, cmd: PaymentCommand) -> None:
    """A processor payment id names one transaction: disputes are matched through it."""
    if not cmd.processor_reference:
        return
    owner = services.store.find_payment(cmd.processor_reference)
    if owner is not None and owner != cmd.transaction_id:
        raise DomainError(
            ErrorCode.TRANSACTION_EXISTS,
            "This processor_reference is already recorded for another transaction.",
            {"transaction_id": owner, "processor_reference": cmd.processor_reference},
        )


def _normal_rate(rate: str | None) -> str | None:
    return format(Decimal(rate).normalize(), "f") if rate else None


def _book_payment(builder: ChangeBuilder, cmd: PaymentCommand, terms: PaymentTerms) -> None:
    builder.add_entry(lambda ctx: payment_entry(ctx, terms), currency=cmd.currency)
    if cmd.status in (PaymentStatus.FAILED, PaymentStatus.VOIDED):
        return  # no sale happened: no tax is owed and no fee was taken
    if cmd.tax_amount:
        builder.add_entry(lambda ctx: tax_entry(ctx, cmd.tax_amount))
    if cmd.fee_amount and cmd.status is PaymentStatus.COMPLETED:
        builder.add_entry(lambda ctx: fee_entry(ctx, cmd.fee_amount))


def _require_payment(state: TransactionState) -> Summary:
    if not state.summary.exists:
        raise DomainError(
            ErrorCode.TRANSACTION_NOT_FOUND,
            "Transaction not found.",
            {"transaction_id": state.summary.transaction_id},
        )
    return state.summary


def complete_payment(services: Services, transaction_id: str, caller: Caller) -> TransactionState:
    """A pending payment is captured; completing a completed payment changes nothing."""

    def decide(builder: ChangeBuilder) -> Decision[TransactionState]:
        state = builder.state
        summary = _require_payment(state)
        if summary.payment_status is PaymentStatus.COMPLETED:
            return Decision(state)
        if summary.payment_status is not PaymentStatus.PENDING:
            raise DomainError(
                ErrorCode.TRANSACTION_NOT_REFUNDABLE,
                "The payment did not go through and cannot be completed.",
                {"transaction_id": transaction_id},
            )
        now = builder.now
        terms = PaymentTerms(
            summary.captured_amount,
            PaymentStatus.COMPLETED,
            now,
            settlement_currency=summary.settlement_currency,
            fx_rate=summary.fx_rate,
            reference=payment_reference(state),
        )
        builder.add_entry(lambda ctx: payment_entry(ctx, terms, capture=True))
        fee = _announced_fee(state)
        if fee:
            builder.add_entry(lambda ctx: fee_entry(ctx, fee))
        builder.audit(
            AuditAction.PAYMENT_COMPLETED,
            amount=summary.captured_amount,
            currency=summary.currency,
            details={"captured_at": now, "fee_amount": fee},
        )
        change = builder.build()
        return Decision(after(state, change), change)

    return unit_of_work.change(services, transaction_id, caller, decide)


def _recorded_payment(state: TransactionState) -> Entry | None:
    """The transaction's first PAYMENT entry: what the payment said when it was recorded."""
    return next((e for e in state.entries if e.type is EntryType.PAYMENT), None)


def payment_reference(state: TransactionState) -> str:
    """What the processor calls this payment: its own id if recorded, else ours."""
    if state.head.payment_reference:  # copied at recording, so no entry need be read
        return state.head.payment_reference
    first = _recorded_payment(state)
    return (first.reference if first else None) or state.summary.transaction_id


def _announced_fee(state: TransactionState) -> int:
    """The fee a pending payment announced when it was recorded, booked at capture."""
    first = _recorded_payment(state)
    return first.fee_amount if first else 0


@dataclass(frozen=True)
class ChargebackCommand:
    transaction_id: str
    amount: int | None = None  # default: everything captured
    reason: str | None = None
    processor_reference: str | None = None
    # The processor's dispute id; when absent, the processor_reference, else a new one.
    chargeback_id: str | None = None
    # Reported by the processor (a webhook): booked on a payment the ledger still holds as
    # pending too, since the processor had captured it.
    reported_by_processor: bool = False


@dataclass(frozen=True)
class ChargebackOutcome:
    chargeback: Chargeback
    state: TransactionState


def _refused(builder: ChangeBuilder, refusal: DomainError, **extra: Any) -> Refusal:
    return audited_refusal(builder, AuditAction.CHARGEBACK_REJECTED, refusal, **extra)


def record_chargeback(
    services: Services,
    cmd: ChargebackCommand,
    caller: Caller,
    ended: DisputeOutcome | None = None,
) -> ChargebackOutcome:
    """Book a dispute in full (SPEC 3.1); the same chargeback id again is a replay.

    `ended` records a dispute whose outcome arrived before its opening: a won one books
    nothing, a lost one books the chargeback for good, and the opening is then a replay.
    """
    chargeback_id = cmd.chargeback_id or cmd.processor_reference or f"cb_{uuid.uuid4().hex}"

    def decide(builder: ChangeBuilder) -> Decision[ChargebackOutcome] | Refusal:
        state = builder.state
        known = state.head.chargebacks.get(chargeback_id)
        if known is not None:
            return Decision(ChargebackOutcome(known, state))
        try:
            claimed, booked = chargeback_amount(
                state.summary, cmd.amount, reported=cmd.reported_by_processor
            )
        except DomainError as refusal:
            return _refused(builder, refusal, amount=cmd.amount, chargeback_id=chargeback_id)
        chargeback = new_chargeback(
            chargeback_id,
            claimed,
            booked,
            builder.now,
            ended=ended,
            reason=cmd.reason,
            processor_reference=cmd.processor_reference,
        )
        if chargeback.amount:
            builder.add_entry(
                lambda ctx: chargeback_entry(ctx, chargeback.amount, chargeback_id, cmd.reason)
            )
        builder.audit(
            AuditAction.CHARGEBACK_RECORDED,
            amount=chargeback.amount,
            currency=state.summary.currency,
            details={
                "chargeback_id": chargeback_id,
                "reason": cmd.reason,
                "processor_reference": cmd.processor_reference,
                "requested_amount": claimed,
                "pending_refund_amount": state.summary.pending_refund_amount,
                "ended": ended.value if ended else None,
            },
        )
        change = _with_chargebacks(builder, {chargeback_id: chargeback})
        counts = over_refund_counts(change.head.summary)
        return Decision(ChargebackOutcome(chargeback, after(state, change)), change, counts)

    return unit_of_work.change(services, cmd.transaction_id, caller, decide)


def resolve_chargeback(
    services: Services,
    transaction_id: str,
    chargeback_id: str,
    outcome: DisputeOutcome,
    caller: Caller,
    *,
    reported: bool = False,
) -> ChargebackOutcome:
    """A dispute won (CHARGEBACK_REVERSAL: the amount comes back) or lost (nothing more).
    `reported`: the processor reports the outcome, and may report a lost dispute won after
    all (an appeal); through the API a resolved dispute stays as it was resolved."""

    def decide(builder: ChangeBuilder) -> Decision[ChargebackOutcome] | Refusal:
        state = builder.state
        try:
            _require_payment(state)
            chargeback = check_resolvable(
                state.head.chargebacks, chargeback_id, transaction_id, outcome, reported=reported
            )
        except DomainError as refusal:
            return _refused(builder, refusal, chargeback_id=chargeback_id, outcome=outcome)
        now = builder.now
        if outcome is DisputeOutcome.WON and chargeback.amount:
            builder.add_entry(
                lambda ctx: chargeback_reversal_entry(ctx, chargeback.amount, chargeback_id)
            )
        resolved = chargeback.resolved(outcome, now)
        changed = {chargeback_id: resolved}
        if outcome is DisputeOutcome.WON:
            changed |= _book_top_ups(builder, chargeback_id)
        builder.audit(
            AuditAction.CHARGEBACK_RESOLVED,
            amount=chargeback.amount,
            currency=state.summary.currency,
            details={"chargeback_id": chargeback_id, "outcome": outcome.value},
        )
        change = _with_chargebacks(builder, changed)
        return Decision(ChargebackOutcome(resolved, after(state, change)), change)

    return unit_of_work.change(services, transaction_id, caller, decide)


def _book_top_ups(builder: ChangeBuilder, won_id: str) -> dict[str, Chargeback]:
    """The standing disputes the won one held back, booked up to what they claim."""
    topped: dict[str, Chargeback] = {}
    for other, more in top_ups(builder.state.head.chargebacks, won_id, builder.summary):
        builder.add_entry(partial(_chargeback_top_up, amount=more, chargeback=other))
        topped[other.chargeback_id] = replace(other, amount=other.amount + more)
    return topped


def _chargeback_top_up(ctx: EntryContext, *, amount: int, chargeback: Chargeback) -> Entry:
    return chargeback_entry(ctx, amount, chargeback.chargeback_id, chargeback.reason)


def _with_chargebacks(builder: ChangeBuilder, changed: dict[str, Chargeback]) -> Change:
    chargebacks = {**builder.state.head.chargebacks, **changed}
    return builder.build(as_fact=True, chargebacks=chargebacks)
