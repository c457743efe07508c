"""Step 8: settle refunds left pending too long by asking the processor what became of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from refund_service import observability_names as names
from refund_service.domain.audit import SYSTEM_RECONCILER
from refund_service.domain.errors import DomainError
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorResult,
    ProcessorTimeoutError,
    ProcessorUnavailableError,
    normalized,
)
from refund_service.domain.refund import Refund, RefundStatus
from refund_service.service.context import Caller, Services
from refund_service.service.ports import PendingRefundRef
from refund_service.service.processor_calls import processor_request, send_deadline
from refund_service.service.refunds import kept_answer
from refund_service.service.settlement import settle

NOT_AT_PROCESSOR = "The processor has no record of this refund; the reservation is released."


@dataclass
class ReconcileReport:
    examined: int = 0
    succeeded: list[str] = field(default_factory=list)
    voided: list[str] = field(default_factory=list)
    still_pending: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    oldest_age_seconds: float = 0.0


def _ask(services: Services, refund: Refund) -> ProcessorResult | None:
    """The processor's current answer; a synthetic failure when it never saw the refund and
    no longer can; None when it cannot tell right now.

    "Not found" voids a refund only after its send deadline: before it, the request that
    reserved the refund may still be on its way to the processor (SPEC 3.1).
    """
    try:
        found = services.processor.lookup(processor_request(refund))
    except (ProcessorUnavailableError, ProcessorTimeoutError):
        return None
    if found is None:
        if services.clock() <= send_deadline(refund, services.policy.send_window_seconds):
            return None
        if _acknowledged(refund):  # the processor answered for it once: its lookup is wrong
            services.metrics.count(names.PROCESSOR_MISMATCH)
            return None
        return normalized(
            ProcessorCode.PROCESSOR_UNAVAILABLE,
            services.processor.name,
            processor_message=NOT_AT_PROCESSOR,
        )
    return found


def _acknowledged(refund: Refund) -> bool:
    """Whether the ledger holds an answer the processor gave for this refund, so the processor
    saw it: a reference, or a code other than the ones that say no answer came."""
    recorded = refund.processor or {}
    unanswered = (ProcessorCode.TIMEOUT.value, ProcessorCode.PROCESSOR_UNAVAILABLE.value)
    return bool(recorded.get("processor_reference")) or recorded.get("code", "TIMEOUT") not in (
        unanswered
    )


def _settle_one(services: Services, ref: PendingRefundRef, caller: Caller) -> RefundStatus | None:
    """What became of one refund from the index; None if it was settled meanwhile."""
    state = services.store.load(ref.transaction_id)
    refund = state.refunds.get(ref.refund_id)
    if refund is None or refund.status is not RefundStatus.PENDING:
        return None  # the index lags the table
    result = kept_answer(state, refund.refund_id) or _ask(services, refund)
    if result is None:
        return RefundStatus.PENDING
    try:
        settled, _ = settle(
            services, ref.transaction_id, ref.refund_id, result, caller, known=state
        )
    except DomainError:
        return RefundStatus.PENDING
    return settled.status


def _examine(
    services: Services, ref: PendingRefundRef, stale_after: timedelta, report: ReconcileReport
) -> None:
    now = services.clock()
    report.examined += 1
    age = (now - datetime.fromisoformat(ref.pending_since)).total_seconds()
    report.oldest_age_seconds = max(report.oldest_age_seconds, age)
    status = _settle_one(services, ref, Caller(SYSTEM_RECONCILER))
    if status is None:
        return
    if status is RefundStatus.SUCCESS:
        report.succeeded.append(ref.refund_id)
    elif status is RefundStatus.FAILED:
        report.voided.append(ref.refund_id)
    else:
        report.still_pending.append(ref.refund_id)
        if age >= stale_after.total_seconds():
            report.stale.append(ref.refund_id)


def _emit(services: Services, report: ReconcileReport) -> ReconcileReport:
    services.metrics.count(names.STALE_PENDING_REFUNDS, len(report.stale))
    services.metrics.measure(names.PENDING_REFUND_AGE, report.oldest_age_seconds, "Seconds")
    return report


def reconcile(
    services: Services, older_than: timedelta, stale_after: timedelta, limit: int = 200
) -> ReconcileReport:
    """The `limit` oldest due refunds, all at once (the local `POST /local/reconcile`)."""
    report = ReconcileReport()
    for ref in services.store.pending_refunds(services.clock() - older_than, limit):
        _examine(services, ref, stale_after, report)
    return _emit(services, report)


# --- the scheduled run: in turn, within a time budget -------------------------------------

CURSOR = "reconciler"
# Before any cursor exists, refunds due within this long count as new.
FIRST_FRESH_WINDOW = timedelta(hours=1)
EPOCH = "0000"  # sorts before every ISO-8601 timestamp
PAGE = 50


class PendingWindow(Protocol):
    def between(
        self, since: str, before: str, limit: int, resume_after: PendingRefundRef | None = None
    ) -> tuple[list[PendingRefundRef], bool]: ...


class Checkpoints(Protocol):
    def load(self, name: str) -> dict[str, Any] | None: ...

    def save(self, name: str, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Budget:
    """Seconds left in this run, and what one more refund may take (a slow processor lookup):
    no refund is started that could not finish."""

    time_left: Callable[[], float]
    per_refund: float

    def allows(self) -> bool:
        return self.time_left() > self.per_refund


@dataclass
class _Walk:
    """One pass over part of the index: where it stands, and whether it reached the end."""

    since: str
    before: str
    after: PendingRefundRef | None = None
    finished: bool = False


def _walk(
    services: Services,
    window: PendingWindow,
    walk: _Walk,
    context: tuple[Budget, timedelta, ReconcileReport, set[str]],
) -> None:
    budget, stale_after, report, seen = context
    while not walk.finished and budget.allows():
        refs, exhausted = window.between(walk.since, walk.before, PAGE, walk.after)
        for ref in refs:
            if not budget.allows():
                return
            if ref.refund_id not in seen:
                seen.add(ref.refund_id)
                _examine(services, ref, stale_after, report)
            walk.after = ref
        walk.finished = exhausted or not refs


def _ref(value: dict[str, Any] | None) -> PendingRefundRef | None:
    return PendingRefundRef(**value) if value else None


def reconcile_in_turn(
    services: Services,
    window: PendingWindow,
    checkpoints: Checkpoints,
    *,
    older_than: timedelta,
    stale_after: timedelta,
    budget: Budget,
) -> ReconcileReport:
    """First the refunds that came due since the last run, so a backlog of long-pending ones
    can never starve them; then the backlog, oldest first, resumed where the last run stopped
    and wrapping round when it reaches the end. Stops while the budget still covers a refund.
    """
    now = services.clock()
    due = (now - older_than).isoformat()
    cursor = checkpoints.load(CURSOR) or {}
    fresh_since = cursor.get("fresh_since") or (now - older_than - FIRST_FRESH_WINDOW).isoformat()
    fresh = _Walk(fresh_since, due, _ref(cursor.get("fresh_after")))
    backlog = _Walk(EPOCH, fresh_since, _ref(cursor.get("backlog_after")))
    report = ReconcileReport()
    context = (budget, stale_after, report, set[str]())
    _walk(services, window, fresh, context)
    _walk(services, window, backlog, context)
    checkpoints.save(CURSOR, _next_cursor(fresh, backlog))
    return _emit(services, report)


def _next_cursor(fresh: _Walk, backlog: _Walk) -> dict[str, Any]:
    if fresh.finished:
        fresh_state: dict[str, Any] = {"fresh_since": fresh.before, "fresh_after": None}
    else:
        after = asdict(fresh.after) if fresh.after else None
        fresh_state = {"fresh_since": fresh.since, "fresh_after": after}
    backlog_after = None if backlog.finished or backlog.after is None else asdict(backlog.after)
    return {**fresh_state, "backlog_after": backlog_after}
