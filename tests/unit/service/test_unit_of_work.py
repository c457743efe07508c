"""The one unit of work every ledger change runs through: load, decide, commit, count, and
again from the load when another writer committed first."""

from __future__ import annotations

from dataclasses import replace

import pytest

from refund_service import observability_names as names
from refund_service.adapters.processors.simulated import (
    InMemorySimulatorMemory,
    SimulatedProcessor,
)
from refund_service.domain.audit import AuditAction
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.ledger import PaymentStatus
from refund_service.service.changes import ChangeBuilder
from refund_service.service.context import Services
from refund_service.service.payments import PaymentCommand, record_payment
from refund_service.service.ports import Change, ConcurrentUpdateError, TransactionState
from refund_service.service.refusals import audit_key_reuse, audited_refusal
from refund_service.service.unit_of_work import Count, Decision, Refusal, change
from tests.support.memory_store import InMemoryLedgerStore
from tests.support.memory_world import memory_services
from tests.support.world import START, USER, MutableClock, RecordingMetrics

TID = "txn-uow-1"
PROBE = "ProbeCounted"


class CountingStore(InMemoryLedgerStore):
    """The in-memory store, counting the reads and the commits that got through."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0
        self.committed = 0

    def load(self, transaction_id: str) -> TransactionState:
        self.loads += 1
        return super().load(transaction_id)

    def commit(self, change: Change) -> None:
        super().commit(change)
        self.committed += 1


class AlwaysMovedOn(InMemoryLedgerStore):
    def commit(self, change: Change) -> None:
        raise ConcurrentUpdateError("the head moved on")


def _services(store: InMemoryLedgerStore) -> tuple[Services, RecordingMetrics]:
    metrics = RecordingMetrics()
    processor = SimulatedProcessor(InMemorySimulatorMemory())
    services = memory_services(processor, MutableClock(START), store=store, metrics=metrics)
    return services, metrics


def _paid(services: Services) -> TransactionState:
    command = PaymentCommand(TID, 10_000, "USD", PaymentStatus.COMPLETED)
    return record_payment(services, command, USER)


def _queried(builder: ChangeBuilder) -> Decision[int]:
    """A decision that writes one audit record and answers the version it decided on."""
    builder.audit(AuditAction.LEDGER_QUERIED, details={"version": builder.summary.version})
    return Decision(builder.summary.version, builder.build(as_fact=True), (Count(PROBE),))


def _actions(store: InMemoryLedgerStore) -> list[AuditAction]:
    return [record.action for record in store.audit_records(TID)]


def test_a_decision_the_ledger_moved_past_is_decided_again_and_counted_once() -> None:
    store = CountingStore()
    services, metrics = _services(store)
    _paid(services)
    seen: list[int] = []

    def decide(builder: ChangeBuilder) -> Decision[int]:
        seen.append(len(builder.state.entries) + len(store.audit_records(TID)))
        if len(seen) == 1:  # another writer commits between our read and our write
            audit_key_reuse(services, TID, USER)
        return _queried(builder)

    change(services, TID, USER, decide)

    # Then the first decision was thrown away, the second made on the state that includes
    # the other writer's record, and only the committed attempt counted
    assert len(seen) == 2
    assert seen[1] == seen[0] + 1
    assert _actions(store)[-2:] == [AuditAction.IDEMPOTENCY_KEY_REUSED, AuditAction.LEDGER_QUERIED]
    assert metrics.counts.get(PROBE) == 1


def test_a_decision_that_writes_nothing_commits_nothing_and_still_counts() -> None:
    store = CountingStore()
    services, metrics = _services(store)
    state = _paid(services)
    before = store.committed

    answer = change(services, TID, USER, lambda b: Decision("as is", counts=(Count(PROBE, 3),)))

    assert answer == "as is"
    assert store.committed == before
    assert store.load(TID).head == state.head
    assert metrics.counts.get(PROBE) == 3


def test_a_refusal_is_audited_then_raised() -> None:
    store = CountingStore()
    services, metrics = _services(store)
    _paid(services)
    refusal = DomainError(ErrorCode.REFUND_NOT_FOUND, "Refund not found.", {"refund_id": "r-9"})

    def decide(builder: ChangeBuilder) -> Refusal:
        return audited_refusal(builder, AuditAction.ROLLBACK_REJECTED, refusal, refund_id="r-9")

    with pytest.raises(DomainError) as raised:
        change(services, TID, USER, decide)

    assert raised.value is refusal
    record = store.audit_records(TID)[-1]
    assert record.action is AuditAction.ROLLBACK_REJECTED
    assert record.refund_id == "r-9"
    assert record.initiator == USER.initiator
    assert record.correlation_id == USER.correlation_id
    assert record.details["error_code"] == ErrorCode.REFUND_NOT_FOUND.value
    assert names.REJECTED_UNKNOWN_TRANSACTION not in metrics.counts


def test_a_refusal_on_an_unknown_transaction_is_counted_and_never_stored() -> None:
    store = CountingStore()
    services, metrics = _services(store)
    refusal = DomainError(ErrorCode.TRANSACTION_NOT_FOUND, "Transaction not found.")

    def decide(builder: ChangeBuilder) -> Refusal:
        return audited_refusal(builder, AuditAction.CHARGEBACK_REJECTED, refusal)

    with pytest.raises(DomainError):
        change(services, "txn-never-recorded", USER, decide)

    assert store.committed == 0
    assert store.audit_records("txn-never-recorded") == []
    assert metrics.counts == {names.REJECTED_UNKNOWN_TRANSACTION: 1}


def test_a_known_state_saves_the_first_read_and_a_stale_one_falls_back_to_reading() -> None:
    store = CountingStore()
    services, _ = _services(store)
    state = _paid(services)
    loads = store.loads

    assert change(services, TID, USER, _queried, known=state) == state.summary.version
    assert store.loads == loads  # decided on what this process last wrote, without a read

    # The state is stale now (the change above moved the head): one conflict, then a read
    assert change(services, TID, USER, _queried, known=state) == state.summary.version
    assert store.loads == loads + 1
    assert _actions(store)[-2:] == [AuditAction.LEDGER_QUERIED, AuditAction.LEDGER_QUERIED]


def test_contention_past_the_attempts_allowed_is_refused_as_such() -> None:
    store = AlwaysMovedOn()
    services, metrics = _services(store)
    services = replace(services, policy=replace(services.policy, max_attempts=4))
    decided: list[int] = []

    def decide(builder: ChangeBuilder) -> Decision[None]:
        decided.append(1)
        builder.audit(AuditAction.LEDGER_QUERIED)
        return Decision(None, builder.build(as_fact=True), (Count(PROBE),))

    with pytest.raises(DomainError) as raised:
        change(services, TID, USER, decide)

    assert raised.value.code is ErrorCode.LEDGER_CONTENTION
    assert len(decided) == 4
    assert PROBE not in metrics.counts
