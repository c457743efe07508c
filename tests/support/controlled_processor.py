"""A processor the test controls, keeping its own record of the money it moved.

It is the model of the processor's truth for tests that check the ledger against it:
- it pays a refund id at most once (the refund id is the idempotency key), and counts every
  payout so a second one would show;
- each request follows a `Plan`: the processor approves, declines or leaves it pending, and the
  answer arrives, is lost (ProcessorTimeoutError after acting), or the calling process dies
  (ProcessCrash); or nothing reaches it (ProcessorUnavailableError, or a crash before sending);
- a request can be held on its way (`hold`): it reaches the processor only when the test
  releases it, and never after the request's `send_by`, because the transport gives up before
  then (the assumption the send deadline rests on, SPEC 3.1);
- it answers lookups and lists its refunds from its own record, and writes a webhook event for
  every decision, kept in `events` for the test to deliver in any order, any number of times.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRecord,
    ProcessorRefundRequest,
    ProcessorResult,
    ProcessorStatus,
    ProcessorTimeoutError,
    ProcessorUnavailableError,
    WebhookEvent,
    WebhookEventKind,
    normalized,
)

NAME = "controlled"


class ProcessCrash(BaseException):
    """The process running the request dies here: nothing after this point runs. A
    BaseException, so that no handler in the service can catch it."""


class Decision(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    PENDING = "pending"


class Delivery(StrEnum):
    ANSWERED = "answered"
    LOST = "lost"  # the processor acted; the answer never came back (timeout)
    CRASH_AFTER = "crash_after"  # the processor acted; the calling process died
    UNAVAILABLE = "unavailable"  # nothing reached the processor, and the caller knows it
    CRASH_BEFORE = "crash_before"  # the calling process died before sending


REACHES = (Delivery.ANSWERED, Delivery.LOST, Delivery.CRASH_AFTER)


@dataclass(frozen=True)
class Plan:
    decision: Decision = Decision.APPROVE
    delivery: Delivery = Delivery.ANSWERED
    # Once the processor acted, call `busy_ledger` (the test makes the ledger refuse writes).
    ledger_busy: bool = False


class RefundState(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    DECLINED = "declined"
    REVERSED = "reversed"  # paid, then failed or taken back by the processor


@dataclass
class ProcessorRefund:
    """The processor's own record of one refund id."""

    refund_id: str
    transaction_id: str
    amount: int
    currency: str
    created_at: datetime
    state: RefundState
    payouts: int = 0  # times money went out for this refund id: never more than one

    @property
    def reference(self) -> str:
        return f"re_{self.refund_id}"

    @property
    def net_paid(self) -> int:
        """What the customer holds from this refund now."""
        return self.amount if self.state is RefundState.PAID else 0


@dataclass
class Gate:
    """A request held on its way to the processor until the test releases it."""

    request: ProcessorRefundRequest
    released: threading.Event = field(default_factory=threading.Event)
    plan: Plan = field(default_factory=Plan)

    def release(self, plan: Plan) -> None:
        self.plan = plan
        self.released.set()


_RESULT_CODE = {
    RefundState.PENDING: ProcessorCode.PENDING,
    RefundState.PAID: ProcessorCode.APPROVED,
    RefundState.DECLINED: ProcessorCode.DECLINED,
    RefundState.REVERSED: ProcessorCode.DECLINED,
}
_LISTED_STATUS = {
    RefundState.PENDING: ProcessorStatus.PENDING,
    RefundState.PAID: ProcessorStatus.SUCCEEDED,
    RefundState.DECLINED: ProcessorStatus.FAILED,
    RefundState.REVERSED: ProcessorStatus.FAILED,
}


class ControlledProcessor:
    name = NAME

    def __init__(self, clock: Callable[[], datetime]):
        self.clock = clock
        self.refunds: dict[str, ProcessorRefund] = {}
        self.events: list[WebhookEvent] = []
        self.plans: deque[Plan] = deque()  # for the next requests; approve when empty
        self.hold = False  # hold the next request at a gate instead of answering
        self.gates: list[Gate] = []
        self.busy_ledger: Callable[[], None] = lambda: None
        self._arrival = threading.Condition()

    # --- the port -----------------------------------------------------------------------------

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        if self.hold:
            return self._receive(request, self._held(request))
        return self._receive(request, self.plans.popleft() if self.plans else Plan())

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        record = self.refunds.get(request.refund_id)
        return self._result(record) if record else None

    def refunds_between(self, since: datetime, until: datetime) -> Iterable[ProcessorRefundRecord]:
        return [
            ProcessorRefundRecord(
                NAME,
                r.reference,
                r.refund_id,
                r.amount,
                r.currency,
                _LISTED_STATUS[r.state],
                r.created_at.isoformat(),
            )
            for r in self.refunds.values()
            if since <= r.created_at < until
        ]

    # --- what happens to a request ------------------------------------------------------------

    def _held(self, request: ProcessorRefundRequest) -> Plan:
        gate = Gate(request)
        with self._arrival:
            self.gates.append(gate)
            self._arrival.notify_all()
        gate.released.wait()
        return gate.plan

    def wait_for_arrival(self, done: threading.Event, known: int) -> Gate | None:
        """The gate the next request waits at, or None once its caller is `done` without
        sending (a refusal, or a retry that only looked the refund up). The caller sets `done`
        through `finished` when it ends."""
        with self._arrival:
            while len(self.gates) == known and not done.is_set():
                self._arrival.wait(timeout=5)
            return self.gates[known] if len(self.gates) > known else None

    def finished(self, done: threading.Event) -> None:
        with self._arrival:
            done.set()
            self._arrival.notify_all()

    def _receive(self, request: ProcessorRefundRequest, plan: Plan) -> ProcessorResult:
        if plan.delivery is Delivery.UNAVAILABLE:
            raise ProcessorUnavailableError("controlled: nothing was sent")
        if plan.delivery is Delivery.CRASH_BEFORE:
            raise ProcessCrash("before sending")
        if request.send_by is not None and self.clock() > request.send_by:
            # The transport gave up by send_by: the request never arrives.
            raise ProcessorTimeoutError("controlled: the request did not arrive in time")
        record = self._record(request, plan.decision)
        if plan.ledger_busy:
            self.busy_ledger()
        if plan.delivery is Delivery.LOST:
            raise ProcessorTimeoutError("controlled: the answer was lost")
        if plan.delivery is Delivery.CRASH_AFTER:
            raise ProcessCrash("after the processor acted")
        return self._result(record)

    def _record(self, request: ProcessorRefundRequest, decision: Decision) -> ProcessorRefund:
        """The refund as the processor keeps it: the first request for an id decides it."""
        known = self.refunds.get(request.refund_id)
        if known is not None:
            assert (known.amount, known.currency) == (request.amount, request.currency)
            return known
        record = ProcessorRefund(
            request.refund_id,
            request.transaction_id,
            request.amount,
            request.currency,
            self.clock(),
            RefundState.PENDING,
        )
        self.refunds[request.refund_id] = record
        if decision is Decision.APPROVE:
            self._pay(record)
        elif decision is Decision.DECLINE:
            self._decline(record)
        return record

    # --- what the processor does on its own ---------------------------------------------------

    def decide(self, refund_id: str, approve: bool) -> None:
        record = self.refunds[refund_id]
        assert record.state is RefundState.PENDING
        if approve:
            self._pay(record)
        else:
            self._decline(record)

    def reverse(self, refund_id: str, kind: WebhookEventKind) -> None:
        """A paid refund fails after all, or is taken back: the money returns."""
        record = self.refunds[refund_id]
        assert record.state is RefundState.PAID
        record.state = RefundState.REVERSED
        self._emit(kind, record, None)

    def open_dispute(self, transaction_id: str, dispute_id: str, amount: int | None) -> None:
        self._emit_dispute(WebhookEventKind.CHARGEBACK, transaction_id, dispute_id, amount)

    def close_dispute(self, transaction_id: str, dispute_id: str, won: bool) -> None:
        kind = WebhookEventKind.CHARGEBACK_WON if won else WebhookEventKind.CHARGEBACK_LOST
        self._emit_dispute(kind, transaction_id, dispute_id, None)

    def _pay(self, record: ProcessorRefund) -> None:
        record.payouts += 1
        record.state = RefundState.PAID
        self._emit(WebhookEventKind.REFUND_SUCCEEDED, record, self._result(record))

    def _decline(self, record: ProcessorRefund) -> None:
        record.state = RefundState.DECLINED
        self._emit(WebhookEventKind.REFUND_FAILED, record, self._result(record))

    def _emit(
        self, kind: WebhookEventKind, record: ProcessorRefund, result: ProcessorResult | None
    ) -> None:
        self.events.append(
            WebhookEvent(
                NAME,
                f"evt_{len(self.events) + 1}",
                kind,
                f"refund.{kind.value}",
                refund_id=record.refund_id,
                transaction_id=record.transaction_id,
                amount=record.amount,
                currency=record.currency,
                result=result,
            )
        )

    def _emit_dispute(
        self, kind: WebhookEventKind, transaction_id: str, dispute_id: str, amount: int | None
    ) -> None:
        self.events.append(
            WebhookEvent(
                NAME,
                f"evt_{len(self.events) + 1}",
                kind,
                f"dispute.{kind.value}",
                transaction_id=transaction_id,
                amount=amount,
                dispute_reference=dispute_id,
            )
        )

    @staticmethod
    def _result(record: ProcessorRefund) -> ProcessorResult:
        return normalized(
            _RESULT_CODE[record.state],
            NAME,
            reference=record.reference,
            processor_code=record.state.value,
        )
