"""The ledger agrees with the processor (SPEC 3.1), under any interleaving hypothesis can find.

The service runs on the in-memory store with a controllable clock and a processor the test
controls (tests/support/controlled_processor.py), which is the model of where money moved.
Rules interleave refund requests (new keys and same-key retries), requests held on their way
to the processor and released later, lost answers, processes dying before or after the
processor acted, answers the ledger is too busy to book (kept apart), the pending-refund
reconciler before and after send deadlines, processor reconciliation, the processor deciding
or reversing refunds on its own, webhook events delivered in any order and more than once
(also as copies under a new event id), disputes recorded through the API or by webhook,
resolved won or lost, lost disputes won on appeal, and operator rollbacks.

At every step:
- every entry balances, and every transaction verifies: the stored summary equals the fold of
  its entries, no ledger limit is broken, the audit chain is intact;
- the processor paid no refund id twice, and no idempotency key got two refunds paid;
- every answer given to a client was true when given: a 200 "success" only for a refund the
  processor had paid.

At quiescence (teardown): requests still on their way die with their process, the clock moves
past every send deadline, then the pending-refund reconciler and processor reconciliation run
until the ledger stops changing. No new webhook is delivered. Then, for every refund id the
processor or the ledger knows:
- the amount the processor paid out and still stands (not reversed) equals the amount the
  ledger has as succeeded for it. The one disagreement allowed is an operator's rollback: the
  operator declared the payout recorded in error, so the ledger counts nothing while the
  processor paid the full amount, and processor reconciliation must name that refund as a
  mismatch (the ledger may disagree with the processor, never silently);
- a refund still pending in the ledger is pending at the processor too;
- every "nothing was refunded" answer (503 PROCESSOR_UNAVAILABLE) names a refund that never
  reached the processor, and every "declined" answer one it does not hold as paid;
- a dispute whose opening and end both reached the service stands in the ledger as it ended;
  one lost, then won on appeal, stands won once the appeal's event reached the service.

Kept out of the interleavings: a reversal whose webhook never arrives. Processor
reconciliation reports it (a refund the ledger has as paid that the processor lists as failed:
`ProcessorMismatch`) rather than booking it, since only the processor's failure notification
says how much came back; so the reversal's event is delivered once at the moment it happens
(redeliveries may follow). Everything else (stale successes after a reversal, a dispute's end
before its opening, answers kept while the ledger is busy, decided or not) is in play.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from hypothesis import HealthCheck, Phase, currently_in_test_context, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from refund_service.api.errors import HTTP_STATUS, ApiError
from refund_service.api.refund_creation import outcome_answer
from refund_service.domain.audit import ChainHead
from refund_service.domain.chargeback import ChargebackStatus, DisputeOutcome
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.ledger import PaymentStatus, assert_balanced
from refund_service.domain.processor import WebhookEventKind
from refund_service.domain.refund import Refund, RefundReason, RefundStatus
from refund_service.service.payments import (
    ChargebackCommand,
    PaymentCommand,
    record_chargeback,
    record_payment,
    resolve_chargeback,
)
from refund_service.service.ports import Change, ConcurrentUpdateError
from refund_service.service.processor_reconciliation import (
    ProcessorReconcileReport,
    reconcile_processor,
)
from refund_service.service.queries import verify_transaction
from refund_service.service.reconciler import reconcile
from refund_service.service.refunds import RefundCommand, RefundOutcome, request_refund
from refund_service.service.settlement import rollback_refund
from refund_service.service.webhooks import handle_event
from tests.support.controlled_processor import (
    ControlledProcessor,
    Decision,
    Delivery,
    Gate,
    Plan,
    ProcessCrash,
    RefundState,
)
from tests.support.memory_store import InMemoryLedgerStore
from tests.support.memory_world import InMemoryEventLog, memory_services
from tests.support.world import START, USER, MutableClock

PAYMENTS = {"txn-a": 10_000, "txn-b": 6_000}
AMOUNTS = (None, 1_000, 2_500, 6_000)  # None: whatever is still refundable
REASON = RefundReason.REQUESTED_BY_CUSTOMER
STEPS_OF_TIME = (1, 20, 61, 300, 3_600)  # seconds; the send window is 60 s
NOTHING_REFUNDED = ErrorCode.PROCESSOR_UNAVAILABLE.value
DECLINED = ErrorCode.PROCESSOR_DECLINED.value

# A third of the requests go through plainly: the interesting ones need a paid refund first.
plans = st.one_of(
    st.just(Plan()),
    st.builds(Plan, st.sampled_from(list(Decision)), st.sampled_from(list(Delivery))),
    # An answer the ledger is too busy to book: kept apart if decided, asked again if not.
    st.builds(
        Plan,
        st.sampled_from(list(Decision)),
        st.sampled_from(list(Delivery)),
        st.just(True),
    ),
)
picks = st.integers(min_value=0, max_value=7)
# Mostly short waits, which keep requests inside their send window, sometimes long ones.
seconds = st.sampled_from((0, 0, 1, 1, 20, *STEPS_OF_TIME))


class ProcessorAct(StrEnum):
    APPROVE = "approve"  # a pending refund is paid
    DECLINE = "decline"  # a pending refund is declined
    FAIL = "fail"  # a paid refund fails after all: the money comes back
    REVERSE = "reverse"  # a paid refund is taken back


class BusyStore(InMemoryLedgerStore):
    """The in-memory store, whose commits can be made to lose to other writers for a while:
    a request whose answer came then keeps it apart (`keep_outcome`) for later booking."""

    def __init__(self) -> None:
        super().__init__()
        self.busy = False

    def commit(self, change: Change) -> None:
        if self.busy:
            raise ConcurrentUpdateError("another writer got there first")
        super().commit(change)


@dataclass(frozen=True)
class Intent:
    """What a client asked under one idempotency key: retries send exactly this again."""

    key: str
    transaction_id: str
    amount: int | None


@dataclass
class Answer:
    """What one request told its client: an HTTP status and, for errors, the code."""

    step: int
    intent: Intent
    status_code: int | None  # None: the client got no answer (the process died)
    error_code: str | None = None
    refund_id: str | None = None


@dataclass
class InFlight:
    """A request whose processor call is held at a gate, running on its own thread."""

    intent: Intent
    thread: threading.Thread
    gate: Gate | None = None
    outcome: Any = None  # RefundOutcome, DomainError, ProcessCrash or an unexpected error


@dataclass
class Dispute:
    dispute_id: str
    transaction_id: str
    won: bool | None = None  # None while open at the processor
    opening_told: bool = False  # the service heard of it: API call or webhook delivered
    closing_told: bool = False
    appeal_event: str | None = None  # the event of a lost dispute won on appeal
    appeal_told: bool = False

    @property
    def open(self) -> bool:
        return self.won is None


@dataclass
class Journal:
    """What happened, for the checks at quiescence."""

    answers: list[Answer] = field(default_factory=list)
    final_report: ProcessorReconcileReport | None = None


def _note(interleaving: str) -> None:
    """Count an interleaving in hypothesis' statistics (outside a hypothesis run: nothing)."""
    if currently_in_test_context():
        event(interleaving)


def _answer_of(outcome: RefundOutcome) -> tuple[int, str | None]:
    try:
        answer = outcome_answer(outcome)
    except ApiError as error:
        return error.status_code, str(error.body["error_code"])
    body = answer["body"]
    return int(answer["status_code"]), body.get("error_code")


class ProcessorAgreement(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = MutableClock(START)
        self.processor = ControlledProcessor(self.clock)
        self.store = BusyStore()
        self.processor.busy_ledger = self._make_ledger_busy
        self.services = memory_services(self.processor, self.clock, store=self.store)
        self.events = InMemoryEventLog()
        self.intents: list[Intent] = []
        self.in_flight: list[InFlight] = []
        self.disputes: list[Dispute] = []
        self.journal = Journal()
        self.step = 0
        self.verified: dict[str, ChainHead] = {}  # the chain head each transaction verified at

    @initialize()
    def record_payments(self) -> None:
        for transaction_id, amount in PAYMENTS.items():
            command = PaymentCommand(
                transaction_id, amount, "USD", PaymentStatus.COMPLETED, tax_amount=amount // 10
            )
            record_payment(self.services, command, USER)

    # --- helpers ------------------------------------------------------------------------------

    def _ledger_refunds(self) -> dict[str, Refund]:
        refunds: dict[str, Refund] = {}
        for transaction_id in PAYMENTS:
            refunds.update(self.store.load(transaction_id).refunds)
        return refunds

    def _command(self, intent: Intent) -> RefundCommand:
        return RefundCommand(
            intent.transaction_id, REASON, intent.amount, idempotency_key=intent.key
        )

    def _new_intent(self, transaction: int, amount: int | None) -> Intent:
        tid = sorted(PAYMENTS)[transaction % len(PAYMENTS)]
        intent = Intent(f"key-{len(self.intents) + 1}", tid, amount)
        self.intents.append(intent)
        return intent

    def _tell(self, intent: Intent, outcome: Any) -> None:
        """Record what the client was told, and check it was true when it was told."""
        self.step += 1
        if isinstance(outcome, ProcessCrash):
            self.journal.answers.append(Answer(self.step, intent, None))
            return
        if isinstance(outcome, DomainError):  # a refusal: nothing was reserved
            status = HTTP_STATUS[outcome.code]
            self.journal.answers.append(Answer(self.step, intent, status, outcome.code.value))
            return
        if not isinstance(outcome, RefundOutcome):
            raise outcome  # anything else is a failure of the service
        status_code, error_code = _answer_of(outcome)
        refund_id = outcome.refund.refund_id
        self.journal.answers.append(Answer(self.step, intent, status_code, error_code, refund_id))
        if status_code == 200:
            paid = self.processor.refunds.get(refund_id)
            assert paid is not None and paid.payouts, (
                f"{intent.key}: told 'refund processed successfully' for {refund_id}, "
                f"which the processor holds as {paid.state if paid else 'unknown'}"
            )

    def _make_ledger_busy(self) -> None:
        self.store.busy = True

    def _ledger_free(self) -> None:
        if self.store.busy:
            _note("the ledger was too busy to book an answer")
        self.store.busy = False

    def _ask(self, intent: Intent, plan: Plan) -> None:
        self.processor.plans.append(plan)
        try:
            outcome: Any = request_refund(self.services, self._command(intent), USER)
        except (DomainError, ProcessCrash) as stopped:
            outcome = stopped
        finally:
            self.processor.plans.clear()  # a retry that only looked the refund up used none
            self._ledger_free()
        self._tell(intent, outcome)

    # --- requests -----------------------------------------------------------------------------

    @rule(transaction=picks, amount=st.sampled_from(AMOUNTS), plan=plans)
    def request(self, transaction: int, amount: int | None, plan: Plan) -> None:
        self._ask(self._new_intent(transaction, amount), plan)

    @precondition(lambda self: self.intents)
    @rule(pick=picks, plan=plans)
    def retry_same_key(self, pick: int, plan: Plan) -> None:
        self._ask(self.intents[pick % len(self.intents)], plan)

    @precondition(lambda self: self.in_flight)
    @rule(pick=picks, plan=plans)
    def retry_while_held(self, pick: int, plan: Plan) -> None:
        """A client that gave up waiting for its request, still held on its way, sends it
        again under the same key, as clients whose call timed out do."""
        _note("a client retried while its request was held")
        self._ask(self.in_flight[pick % len(self.in_flight)].intent, plan)

    @rule(transaction=picks, amount=st.sampled_from(AMOUNTS), retry=st.booleans(), pick=picks)
    def send_slowly(self, transaction: int, amount: int | None, retry: bool, pick: int) -> None:
        """A request whose processor call is held on its way until released."""
        if retry and self.intents:
            intent = self.intents[pick % len(self.intents)]
        else:
            intent = self._new_intent(transaction, amount)
        flight = InFlight(intent, threading.Thread(target=lambda: None))
        done = threading.Event()

        def run() -> None:
            try:
                flight.outcome = request_refund(self.services, self._command(intent), USER)
            except BaseException as stopped:  # handed to the test thread
                flight.outcome = stopped
            finally:
                self.processor.finished(done)

        flight.thread = threading.Thread(target=run, daemon=True)
        known = len(self.processor.gates)
        self.processor.hold = True
        try:
            flight.thread.start()
            flight.gate = self.processor.wait_for_arrival(done, known)
        finally:
            self.processor.hold = False
        if flight.gate is None:
            flight.thread.join()
            self._tell(intent, flight.outcome)
        else:
            _note("a request was held on its way")
            self.in_flight.append(flight)

    @precondition(lambda self: self.in_flight)
    @rule(pick=picks, plan=plans, wait=seconds)
    def release(self, pick: int, plan: Plan, wait: int) -> None:
        """The held request reaches the processor `wait` seconds later (past its send_by,
        never: the transport gave up)."""
        self.clock.advance(seconds=wait)
        flight = self.in_flight.pop(pick % len(self.in_flight))
        self._finish(flight, plan)

    def _finish(self, flight: InFlight, plan: Plan) -> None:
        assert flight.gate is not None
        flight.gate.release(plan)
        flight.thread.join(timeout=30)
        self._ledger_free()
        assert not flight.thread.is_alive(), "a released request never finished"
        self._tell(flight.intent, flight.outcome)

    # --- reconciliation -----------------------------------------------------------------------

    @rule(wait=seconds, after_minutes=st.sampled_from((0, 0, 5)))
    def reconcile_pending(self, wait: int, after_minutes: int) -> None:
        """The scheduled reconciler, some time later; `after_minutes` 0 is what the local
        stack's reconcile route does, 5 the deployed schedule."""
        self.clock.advance(seconds=wait)
        if self.in_flight:
            _note("the reconciler ran while a request was held")
        reconcile(
            self.services,
            older_than=timedelta(minutes=after_minutes),
            stale_after=timedelta(hours=1),
        )

    @rule(wait=seconds)
    def reconcile_with_processor(self, wait: int) -> None:
        self.clock.advance(seconds=wait)
        self._reconcile_processor()

    def _reconcile_processor(self) -> ProcessorReconcileReport:
        return reconcile_processor(
            self.services, START - timedelta(days=1), self.clock() + timedelta(minutes=1)
        )

    # --- the processor on its own -------------------------------------------------------------

    def _at_processor(self, *states: RefundState) -> list[str]:
        return sorted(r for r, record in self.processor.refunds.items() if record.state in states)

    @precondition(lambda self: self._at_processor(RefundState.PENDING, RefundState.PAID))
    @rule(pick=picks, act=st.sampled_from(list(ProcessorAct)))
    def processor_acts(self, pick: int, act: ProcessorAct) -> None:
        """The processor decides a refund it left pending, or one it paid fails after all
        (its reversal event is delivered at once: see the module docstring)."""
        if act in (ProcessorAct.APPROVE, ProcessorAct.DECLINE):
            candidates = self._at_processor(RefundState.PENDING)
        else:
            candidates = self._at_processor(RefundState.PAID)
        if not candidates:
            return
        refund_id = candidates[pick % len(candidates)]
        if act in (ProcessorAct.APPROVE, ProcessorAct.DECLINE):
            self.processor.decide(refund_id, approve=act is ProcessorAct.APPROVE)
            return
        kind = WebhookEventKind.REFUND_FAILED
        if act is ProcessorAct.REVERSE:
            kind = WebhookEventKind.REFUND_REVERSED
        self.processor.reverse(refund_id, kind)
        handle_event(self.services, self.events, self.processor.events[-1])

    @precondition(lambda self: self.processor.events)
    @rule(pick=picks, as_copy=st.booleans())
    def deliver_webhook(self, pick: int, as_copy: bool) -> None:
        """Any event the processor wrote, in any order, any number of times; a copy comes
        under a new event id, as processors send several events for one change."""
        event = self.processor.events[pick % len(self.processor.events)]
        if as_copy:
            event = replace(event, event_id=f"{event.event_id}-copy-{self.step}")
        handle_event(self.services, self.events, event)
        dispute = next((d for d in self.disputes if d.dispute_id == event.dispute_reference), None)
        if dispute is not None:
            if event.kind is WebhookEventKind.CHARGEBACK:
                dispute.opening_told = True
            else:
                dispute.closing_told = True
            if event.event_id.split("-copy-")[0] == dispute.appeal_event:
                dispute.appeal_told = True

    # --- disputes -----------------------------------------------------------------------------

    @rule(
        transaction=picks,
        amount=st.sampled_from((None, 3_000, 6_000)),
        through_api=st.booleans(),
    )
    def open_dispute(self, transaction: int, amount: int | None, through_api: bool) -> None:
        tid = sorted(PAYMENTS)[transaction % len(PAYMENTS)]
        dispute = Dispute(f"dp_{len(self.disputes) + 1}", tid)
        self.disputes.append(dispute)
        self.processor.open_dispute(tid, dispute.dispute_id, amount)
        if through_api:
            command = ChargebackCommand(tid, amount, chargeback_id=dispute.dispute_id)
            record_chargeback(self.services, command, USER)
            dispute.opening_told = True

    @precondition(lambda self: any(d.open for d in self.disputes))
    @rule(pick=picks, won=st.booleans(), through_api=st.booleans())
    def resolve_dispute(self, pick: int, won: bool, through_api: bool) -> None:
        still_open = [d for d in self.disputes if d.open]
        dispute = still_open[pick % len(still_open)]
        dispute.won = won
        self.processor.close_dispute(dispute.transaction_id, dispute.dispute_id, won)
        if not through_api:
            return
        outcome = DisputeOutcome.WON if won else DisputeOutcome.LOST
        try:
            resolve_chargeback(
                self.services, dispute.transaction_id, dispute.dispute_id, outcome, USER
            )
        except DomainError as refusal:  # its opening event was not delivered yet
            assert refusal.code is ErrorCode.CHARGEBACK_NOT_FOUND, refusal
            assert not dispute.opening_told
        else:
            dispute.closing_told = True

    @precondition(lambda self: any(d.won is False and not d.appeal_event for d in self.disputes))
    @rule(pick=picks)
    def win_appeal(self, pick: int) -> None:
        """A lost dispute won on appeal: the processor returns the funds and says so."""
        lost = [d for d in self.disputes if d.won is False and not d.appeal_event]
        dispute = lost[pick % len(lost)]
        dispute.won = True
        self.processor.close_dispute(dispute.transaction_id, dispute.dispute_id, True)
        dispute.appeal_event = self.processor.events[-1].event_id

    # --- the operator -------------------------------------------------------------------------

    @rule(pick=picks)
    def rollback(self, pick: int) -> None:
        refunds = sorted(self._ledger_refunds().values(), key=lambda r: r.refund_id)
        if not refunds:
            return
        refund = refunds[pick % len(refunds)]
        try:
            rollback_refund(
                self.services, refund.transaction_id, refund.refund_id, "recorded in error", USER
            )
        except DomainError as refusal:
            assert refusal.code is ErrorCode.REFUND_NOT_REVERSIBLE, refusal
            assert refund.status is not RefundStatus.SUCCESS

    # --- at every step ------------------------------------------------------------------------

    @invariant()
    def every_transaction_verifies(self) -> None:
        for transaction_id in PAYMENTS:
            head = self.store.load(transaction_id).head
            if self.verified.get(transaction_id) == head.chain:
                continue  # nothing was written since it last verified: the ledger only grows
            for entry in self.store.load(transaction_id).entries:
                assert_balanced(entry.postings)
            verification = verify_transaction(self.store, transaction_id)
            assert verification.ok, verification
            self.verified[transaction_id] = head.chain

    @invariant()
    def no_refund_is_paid_twice(self) -> None:
        for record in self.processor.refunds.values():
            assert record.payouts <= 1, record
        paid_per_key: dict[str, set[str]] = {}
        for refund in self._ledger_refunds().values():
            paid = self.processor.refunds.get(refund.refund_id)
            if refund.idempotency_key and paid and paid.payouts:
                paid_per_key.setdefault(refund.idempotency_key, set()).add(refund.refund_id)
        twice = {key: ids for key, ids in paid_per_key.items() if len(ids) > 1}
        assert not twice, f"one request paid more than once: {twice}"

    # --- at quiescence ------------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            self._drain()
            self._check_agreement()
            self._check_answers()
            self._check_disputes()
        finally:
            for flight in self.in_flight:  # never leave a thread waiting
                assert flight.gate is not None
                flight.gate.release(Plan(delivery=Delivery.CRASH_BEFORE))

    def _drain(self) -> None:
        """Requests on their way die with their process; then past every send deadline,
        reconcile until nothing changes. No new webhook is delivered."""
        while self.in_flight:
            self._finish(self.in_flight.pop(), Plan(delivery=Delivery.CRASH_BEFORE))
        self.clock.advance(minutes=10)
        for _ in range(5):
            commits = self.store.commits
            reconcile(self.services, older_than=timedelta(0), stale_after=timedelta(hours=1))
            self.journal.final_report = self._reconcile_processor()
            if self.store.commits == commits:
                return
        raise AssertionError("reconciliation never settled")

    def _check_agreement(self) -> None:
        report = self.journal.final_report
        assert report is not None
        reported = {m.refund_id for m in report.mismatches}
        ledger = self._ledger_refunds()
        for refund_id in sorted(set(ledger) | set(self.processor.refunds)):
            refund = ledger.get(refund_id)
            record = self.processor.refunds.get(refund_id)
            paid = record.net_paid if record else 0
            succeeded = refund.amount if refund and refund.status is RefundStatus.SUCCESS else 0
            if refund is not None and refund.status is RefundStatus.ROLLED_BACK:
                assert paid in (0, refund.amount), (refund_id, paid)
                assert not paid or refund_id in reported, (
                    f"{refund_id}: paid by the processor, rolled back by the operator, "
                    f"and processor reconciliation does not say so"
                )
                continue
            assert paid == succeeded, (
                f"{refund_id}: the processor paid {paid}, the ledger has {succeeded} succeeded "
                f"(ledger: {refund.status.value if refund else 'unknown'}, "
                f"processor: {record.state.value if record else 'unknown'})"
            )
            if refund is not None and refund.status is RefundStatus.PENDING:
                assert record is not None and record.state is RefundState.PENDING, (
                    f"{refund_id} is still pending in the ledger, "
                    f"{record.state.value if record else 'unknown'} at the processor"
                )

    def _check_answers(self) -> None:
        for answer in self.journal.answers:
            record = self.processor.refunds.get(answer.refund_id or "")
            if answer.error_code == NOTHING_REFUNDED:
                assert record is None, (
                    f"step {answer.step}: told 'nothing was refunded' for {answer.refund_id}, "
                    f"which reached the processor: {record}"
                )
            if answer.error_code == DECLINED:
                assert record is None or record.state is not RefundState.PAID, (
                    f"step {answer.step}: told 'declined' for {answer.refund_id}, "
                    f"which the processor holds as paid"
                )

    def _check_disputes(self) -> None:
        """A dispute the service heard both the opening and the end of stands as it ended."""
        for dispute in self.disputes:
            if not (dispute.opening_told and dispute.closing_told):
                continue
            head = self.store.load(dispute.transaction_id).head
            booked = head.chargebacks.get(dispute.dispute_id)
            won = dispute.appeal_told if dispute.appeal_event else dispute.won
            expected = ChargebackStatus.WON if won else ChargebackStatus.LOST
            assert booked is not None and booked.status is expected, (
                f"{dispute.dispute_id} was {expected.value} at the processor and both its events "
                f"reached the service; the ledger has it {booked.status.value if booked else None}"
            )


ProcessorAgreement.TestCase.settings = settings(
    # About 15 s of one core. A deeper search: AGREEMENT_EXAMPLES=3000 pytest --timeout=0 ...
    max_examples=int(os.environ.get("AGREEMENT_EXAMPLES", "200")),
    stateful_step_count=40,
    deadline=None,
    # No explain phase: it traces every line, which multiplies the run time of each example.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)
TestProcessorAgreement = ProcessorAgreement.TestCase


def _run(steps: Callable[[ProcessorAgreement], None]) -> ProcessorAgreement:
    """One interleaving, written out, with the same checks after each step and at the end."""
    machine = ProcessorAgreement()
    machine.record_payments()
    steps(machine)
    machine.every_transaction_verifies()
    machine.no_refund_is_paid_twice()
    machine.teardown()
    return machine


def test_a_reconciler_run_during_a_held_send_lets_no_retry_pay_again() -> None:
    """Issue 11, scenario 1, as the state machine plays it: the reconciler runs while the
    request is on its way, the client retries under the same key, then the request arrives."""

    def steps(machine: ProcessorAgreement) -> None:
        machine.send_slowly(transaction=0, amount=4_000, retry=False, pick=0)
        machine.reconcile_pending(wait=20, after_minutes=0)
        machine.retry_while_held(pick=0, plan=Plan())
        machine.release(pick=0, plan=Plan(), wait=20)

    machine = _run(steps)
    answers = [(a.status_code, a.refund_id) for a in machine.journal.answers]
    assert answers == [(202, "txn-a-REFUND"), (200, "txn-a-REFUND")]
    assert [r.payouts for r in machine.processor.refunds.values()] == [1]


def test_an_answer_the_ledger_was_too_busy_to_book_is_booked_by_the_reconciler() -> None:
    def steps(machine: ProcessorAgreement) -> None:
        machine.request(transaction=1, amount=2_500, plan=Plan(ledger_busy=True))
        assert machine.store.load("txn-b").kept_outcomes

    machine = _run(steps)
    assert machine.journal.answers[0].status_code == 200
    assert machine.store.load("txn-b").refunds["txn-b-REFUND"].status is RefundStatus.SUCCESS


def test_a_dispute_lost_then_won_on_appeal_stands_won_once_the_appeal_is_told() -> None:
    """Opened and lost through the API, then won on appeal: only the processor's event says so,
    delivered before and after a copy of the loss."""

    def steps(machine: ProcessorAgreement) -> None:
        machine.open_dispute(transaction=0, amount=None, through_api=True)
        machine.resolve_dispute(pick=0, won=False, through_api=True)
        machine.win_appeal(pick=0)
        appeal = len(machine.processor.events) - 1
        machine.deliver_webhook(pick=appeal, as_copy=False)
        machine.deliver_webhook(pick=appeal - 1, as_copy=True)  # the loss again, later

    machine = _run(steps)
    [dispute] = machine.disputes
    assert dispute.appeal_told
    assert machine.store.load(dispute.transaction_id).summary.chargeback_amount == 0
