"""The refund workflow: retrieve, validate, reserve, ask the processor, record the outcome."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from refund_service import observability_names as names
from refund_service.domain.allocation import allocate_refund
from refund_service.domain.audit import AuditAction, RepeatTally, digest
from refund_service.domain.eligibility import check_refundable
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.fx import convert
from refund_service.domain.ledger import FxQuote
from refund_service.domain.processor import (
    CALL_FAILURES,
    ProcessorCode,
    ProcessorResult,
    ProcessorStatus,
    ProcessorTimeoutError,
    ProcessorUnavailableError,
    normalized,
    result_from_dict,
)
from refund_service.domain.refund import Refund, RefundReason, RefundStatus
from refund_service.domain.summary import Summary
from refund_service.service import unit_of_work
from refund_service.service.changes import ChangeBuilder, reserve_refund
from refund_service.service.context import Caller, Services, timestamp
from refund_service.service.payments import payment_reference
from refund_service.service.ports import (
    Change,
    Head,
    TransactionState,
    after,
    claim_key,
    guard_key,
)
from refund_service.service.processor_calls import SEND_MARGIN, processor_request, send_deadline
from refund_service.service.refusals import unknown_transaction
from refund_service.service.settlement import settle
from refund_service.service.unit_of_work import Decision, Refusal


@dataclass(frozen=True)
class RefundCommand:
    transaction_id: str
    reason: RefundReason
    amount: int | None = None
    currency: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass(frozen=True)
class RefundOutcome:
    refund: Refund
    summary: Summary
    result: ProcessorResult


def _ledger_digest(state: TransactionState) -> dict[str, Any]:
    """What the retrieve step saw: the summary, and the chain head that commits to every
    earlier record of the transaction, so the record does not grow with its history."""
    return {
        "digest": digest({"summary": asdict(state.summary)}),
        "version": state.summary.version,
        "audit_seq": state.head.chain.seq,
        "audit_hash": state.head.chain.hash,
    }


def _in_payment_currency(
    services: Services, cmd: RefundCommand, summary: Summary
) -> tuple[int | None, FxQuote | None]:
    currency = cmd.currency or summary.currency
    if currency == summary.currency:
        return cmd.amount, None
    if not services.policy.currency_conversion:
        raise DomainError(
            ErrorCode.CURRENCY_MISMATCH,
            f"The payment is in {summary.currency}; refunds in {currency} are not converted.",
            {"payment_currency": summary.currency, "requested_currency": currency},
        )
    if cmd.amount is None:
        return None, None
    quote = services.rates.quote(currency, summary.currency, services.clock().date())
    return convert(cmd.amount, currency, Decimal(quote.rate), summary.currency), quote


def _same_key(state: TransactionState, key: str | None) -> Refund | None:
    """The refund an earlier attempt with this idempotency key reserved, if any is still live.

    A refund voided because the processor could not be reached, or asked us to come back
    later, refunded nothing: a retry under the same key starts afresh.
    """
    if key is None:
        return None
    return next(
        (r for r in state.refunds.values() if r.idempotency_key == key and not _retry_allowed(r)),
        None,
    )


def _retry_allowed(refund: Refund) -> bool:
    return refund.status is RefundStatus.FAILED and bool((refund.processor or {}).get("retryable"))


@dataclass(frozen=True)
class _Reservation:
    refund: Refund
    state: TransactionState
    resumed: bool  # an earlier attempt under the same key made it


def _reserve(services: Services, cmd: RefundCommand, caller: Caller) -> _Reservation:
    """Steps 1 to 3: one query, the checks, then one atomic write of the reservation.

    A refusal is audited and raised; a version conflict starts over from the query.
    """

    def decide(builder: ChangeBuilder) -> Decision[_Reservation] | Refusal:
        state = builder.state
        earlier = _same_key(state, cmd.idempotency_key)
        if earlier is not None:
            return Decision(_Reservation(earlier, state, resumed=True))
        builder.audit(AuditAction.LEDGER_QUERIED, details=_ledger_digest(state))
        builder.audit(
            AuditAction.REFUND_REQUESTED,
            amount=cmd.amount,
            currency=cmd.currency,
            details={"reason": cmd.reason.value},
        )
        try:
            summary = state.summary
            refundable = check_refundable(
                summary, state.head.chargebacks, builder.moment, services.policy.refund
            )
            amount, quote = _in_payment_currency(services, cmd, summary)
            amount = refundable.take(amount)
        except DomainError as refusal:
            return _rejection(builder, cmd, caller, refusal)
        refund = _reserve_in(builder, services, cmd, amount, quote)
        change = claim_key(builder.build(), state, refund)
        return Decision(_Reservation(refund, after(state, change), resumed=False), change)

    def read() -> TransactionState:
        return services.store.load_for_refund(cmd.transaction_id, cmd.idempotency_key)

    return unit_of_work.change(services, cmd.transaction_id, caller, decide, read=read)


# Identical refusals (same caller, same refusal, same request) within this window are counted
# on the head; the audit chain gets a record only when the count reaches a power of two.
REPEAT_WINDOW = timedelta(hours=1)
MAX_TALLIES = 32  # tallies kept on one head: it must stay far below DynamoDB's 400 KB


def _fingerprint(cmd: RefundCommand, caller: Caller, refusal: DomainError) -> str:
    request = {
        "transaction_id": cmd.transaction_id,
        "reason": cmd.reason.value,
        "amount": cmd.amount,
        "currency": cmd.currency,
        "metadata": cmd.metadata,
    }
    who = [caller.initiator.type, caller.initiator.id]
    return digest([*who, refusal.code.value, digest(request)])[:32]


def _live(tally: RepeatTally, now: datetime) -> bool:
    return now < datetime.fromisoformat(tally.first_at) + REPEAT_WINDOW


def _rejection(
    builder: ChangeBuilder, cmd: RefundCommand, caller: Caller, refusal: DomainError
) -> Refusal:
    """A refusal, audited: the full records for the first of its kind in a window, then one
    record at each power of two, and in between only the count. A refusal on a transaction
    that does not exist is counted, never stored. Under an idempotency key, the refusal
    commits only if the key's pointer still names what was read (`guard_key`)."""
    if not builder.state.summary.exists:
        return unknown_transaction(refusal)
    change = _rejection_change(builder, cmd, caller, refusal)
    return Refusal(refusal, guard_key(change, builder.state))


def _rejection_change(
    builder: ChangeBuilder, cmd: RefundCommand, caller: Caller, refusal: DomainError
) -> Change:
    head, now = builder.state.head, builder.moment
    fingerprint = _fingerprint(cmd, caller, refusal)
    tally = head.repeats.get(fingerprint)
    details = {"error_code": refusal.code.value, "message": refusal.message, **refusal.details}
    if tally is not None and _live(tally, now):
        return _repeat(builder, cmd, tally, details)
    builder.audit(
        AuditAction.REFUND_REJECTED, amount=cmd.amount, currency=cmd.currency, details=details
    )
    _close_tallies(builder, head, now, leaving=fingerprint)
    change = builder.build(as_fact=True)
    first = RepeatTally(
        fingerprint=fingerprint,
        action=AuditAction.REFUND_REJECTED.value,
        error_code=refusal.code.value,
        initiator_id=caller.initiator.id,
        first_at=builder.now,
        last_at=builder.now,
        first_seq=next(r.seq for r in change.audit if r.action is AuditAction.REFUND_REJECTED),
    )
    repeats = {**_kept_tallies(head, now, leaving=fingerprint), fingerprint: first}
    return replace(change, head=replace(change.head, repeats=repeats))


def _repeat(
    builder: ChangeBuilder, cmd: RefundCommand, tally: RepeatTally, details: dict[str, Any]
) -> Change:
    state, count = builder.state, tally.count + 1
    counted = replace(tally, count=count, last_at=builder.now)
    guard = (tally.fingerprint, tally.count)
    if count & (count - 1):  # not a power of two: counted on the head, no audit record
        head = replace(state.head, repeats={**state.head.repeats, tally.fingerprint: counted})
        return Change(state.head, head, repeat_guard=guard, touched_at=builder.now)
    fresh = ChangeBuilder(state, builder.now, builder.initiator, builder.correlation_id)
    fresh.audit(
        AuditAction.REFUND_REJECTED,
        amount=cmd.amount,
        currency=cmd.currency,
        details={
            **details,
            "repeated": count,
            "since": tally.first_at,
            "first_seq": tally.first_seq,
        },
    )
    change = fresh.build(as_fact=True)
    attested = replace(counted, recorded=count)
    repeats = {**state.head.repeats, tally.fingerprint: attested}
    return replace(change, head=replace(change.head, repeats=repeats), repeat_guard=guard)


def _kept_tallies(head: Head, now: datetime, leaving: str) -> dict[str, RepeatTally]:
    """The tallies still counting, the newest MAX_TALLIES - 1 of them (room for one more)."""
    live = [t for fp, t in head.repeats.items() if fp != leaving and _live(t, now)]
    live.sort(key=lambda t: t.last_at, reverse=True)
    return {t.fingerprint: t for t in live[: MAX_TALLIES - 1]}


def _close_tallies(builder: ChangeBuilder, head: Head, now: datetime, leaving: str) -> None:
    """Tallies about to leave the head put their final count in the chain first, where it
    is more than the chain last attested."""
    kept = _kept_tallies(head, now, leaving)
    for tally in head.repeats.values():
        if tally.fingerprint in kept or tally.count == tally.recorded:
            continue
        builder.audit(
            AuditAction.REFUSALS_COUNTED,
            details={
                "error_code": tally.error_code,
                "initiator_id": tally.initiator_id,
                "repeated": tally.count,
                "since": tally.first_at,
                "until": tally.last_at,
                "first_seq": tally.first_seq,
            },
        )


def _reserve_in(
    builder: ChangeBuilder,
    services: Services,
    cmd: RefundCommand,
    amount: int,
    quote: FxQuote | None,
) -> Refund:
    summary = builder.summary
    shares = allocate_refund(summary, amount, services.policy.fee_policy)
    refund = reserve_refund(
        builder,
        amount,
        shares,
        validated={
            "refundable_before": summary.refundable_amount,
            "conversion": asdict(quote) if quote else None,
        },
        pending={"tax_amount": shares.tax, "fee_amount": shares.fee},
        reason=cmd.reason.value,
        metadata=cmd.metadata,
        requested_amount=cmd.amount if quote else None,
        requested_currency=cmd.currency if quote else None,
        conversion=quote,
        pending_since=builder.now,
        send_deadline=timestamp(
            builder.moment + timedelta(seconds=services.policy.send_window_seconds)
        ),
        idempotency_key=cmd.idempotency_key,
        payment_reference=payment_reference(builder.state),
    )
    builder.put_refund(refund)
    return refund


def ask_processor(services: Services, refund: Refund) -> ProcessorResult:
    """Step 4: one request, the refund id as idempotency key; the answer normalized.

    Nothing is sent once the send deadline is near: past it, the refund may be declared unsent.
    """
    name = services.processor.name
    send_by = send_deadline(refund, services.policy.send_window_seconds) - SEND_MARGIN
    if services.clock() >= send_by:
        return normalized(
            ProcessorCode.PROCESSOR_UNAVAILABLE,
            name,
            processor_message="not sent: the refund's send deadline had come",
        )
    started = time.perf_counter()
    try:
        result = services.processor.refund(processor_request(refund, send_by))
    except ProcessorUnavailableError as error:
        result = normalized(ProcessorCode.PROCESSOR_UNAVAILABLE, name, processor_message=str(error))
    except ProcessorTimeoutError as error:
        result = normalized(ProcessorCode.TIMEOUT, name, processor_message=str(error))
    finally:
        services.metrics.measure(
            names.PROCESSOR_LATENCY, (time.perf_counter() - started) * 1000, "Milliseconds"
        )
    if result.code in CALL_FAILURES:
        services.metrics.count(names.PROCESSOR_FAILURES)
    return result


def request_refund(services: Services, cmd: RefundCommand, caller: Caller) -> RefundOutcome:
    """The whole workflow for one refund request.

    Refusals raise DomainError. A processor decline or an unreachable processor comes back as
    a failed refund; an unknown outcome as a pending one, left for reconciliation.
    """
    services.metrics.count(names.REFUNDS_REQUESTED)
    try:
        reservation = _reserve(services, cmd, caller)
    except DomainError as refusal:
        if refusal.code is ErrorCode.CHARGEBACK_CONFLICT:
            services.metrics.count(names.CHARGEBACK_CONFLICT)
        raise
    refund, state = reservation.refund, reservation.state
    if refund.status is not RefundStatus.PENDING:  # an earlier attempt with this key finished
        return RefundOutcome(refund, state.summary, result_from_dict(refund.processor or {}))
    kept = kept_answer(state, refund.refund_id)
    if kept is not None:  # an answer an earlier attempt could not book: booked now, not re-asked
        result = kept
    elif reservation.resumed:
        result = _ask_without_sending(services, refund)
    else:
        result = ask_processor(services, refund)
    return _book_answer(services, refund, state, result, caller)


def kept_answer(state: TransactionState, refund_id: str) -> ProcessorResult | None:
    """A final processor answer kept for a refund the ledger could not book it on; None for
    none, or for a pending one (whatever kept it: a pending answer settles nothing)."""
    kept = state.kept_outcomes.get(refund_id)
    result = result_from_dict(kept) if kept is not None else None
    return result if result is not None and result.status is not ProcessorStatus.PENDING else None


_STATUS_OF_ANSWER = {
    ProcessorStatus.SUCCEEDED: RefundStatus.SUCCESS,
    ProcessorStatus.FAILED: RefundStatus.FAILED,
    ProcessorStatus.PENDING: RefundStatus.PENDING,
}


def _book_answer(
    services: Services,
    refund: Refund,
    state: TransactionState,
    result: ProcessorResult,
    caller: Caller,
) -> RefundOutcome:
    """Step 5 for the request's own answer. The answer is the truth the client is told; the
    ledger's record of it wins only where it already holds one (a webhook got there first)."""
    try:
        settled, summary = settle(
            services, refund.transaction_id, refund.refund_id, result, caller, known=state
        )
    except DomainError as contention:
        if contention.code is not ErrorCode.LEDGER_CONTENTION:
            raise
        # The ledger is too busy to book the answer now. A final answer is kept durably, so
        # that the next attempt or the reconciler books it without asking the processor again;
        # a pending one is not worth keeping: the reconciler asks the processor anyway.
        if result.status is not ProcessorStatus.PENDING:
            services.store.keep_outcome(refund.transaction_id, refund.refund_id, result.as_dict())
        told = replace(refund, status=_STATUS_OF_ANSWER[result.status], processor=result.as_dict())
        return RefundOutcome(told, state.summary, result)
    recorded = result_from_dict(settled.processor) if settled.processor else result
    return RefundOutcome(settled, summary, recorded)


def _ask_without_sending(services: Services, refund: Refund) -> ProcessorResult:
    """For a refund an interrupted attempt reserved: what the processor knows of it.

    Only the request that reserved a refund ever sends it. Once that request is gone, whether
    its send arrived is for the processor to say; if it cannot tell yet, the refund stays
    pending and the reconciler settles it, so a send can never race a void.
    """
    try:
        found = services.processor.lookup(processor_request(refund))
    except (ProcessorUnavailableError, ProcessorTimeoutError):
        found = None
    return found or normalized(ProcessorCode.TIMEOUT, services.processor.name)
