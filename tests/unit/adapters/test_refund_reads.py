"""The reads of one refund, on both stores: only the head, the key's pointer and the one refund.

The in-memory store stands in for DynamoDB in the fast service tests, so every test here runs
against both (the DynamoDB store on moto), as tests/unit/service/test_memory_store.py does for
the rest of the store's contract. What the reads cost on DynamoDB Local, and that it does not
grow with the payment's history, is in test_reads_independent_of_history.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from refund_service.adapters.dynamodb.ledger_store import DynamoDBLedgerStore
from refund_service.adapters.processors.simulated import (
    InMemorySimulatorMemory,
    SimulatedProcessor,
)
from refund_service.domain.audit import AuditAction
from refund_service.domain.ledger import (
    PaymentStatus,
    PaymentTerms,
    RefundAmounts,
    payment_entry,
    refund_pending_entry,
)
from refund_service.domain.processor import ProcessorCode, normalized
from refund_service.domain.refund import Refund, RefundReason, RefundStatus
from refund_service.service.changes import ChangeBuilder
from refund_service.service.context import Services, timestamp
from refund_service.service.payments import PaymentCommand, record_payment
from refund_service.service.ports import (
    Change,
    ConcurrentUpdateError,
    KeyClaim,
    KeyMove,
    LedgerStore,
    TransactionState,
)
from refund_service.service.refunds import RefundCommand, RefundOutcome, request_refund
from refund_service.service.settlement import settle
from tests.support.memory_store import InMemoryLedgerStore
from tests.support.memory_world import memory_services
from tests.support.world import START, USER, MutableClock, create_tables

NOW = timestamp(START)


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> LedgerStore:
    if request.param == "memory":
        return InMemoryLedgerStore()
    client = request.getfixturevalue("moto_dynamodb")
    tables = create_tables(client)
    return DynamoDBLedgerStore(client, tables["PaymentLedger"], tables["PaymentAuditTrail"])


@pytest.fixture
def services(store: LedgerStore) -> Services:
    return memory_services(
        SimulatedProcessor(InMemorySimulatorMemory()), MutableClock(), store=store
    )


def _pay(services: Services, transaction_id: str = "txn-1", amount: int = 100_000) -> str:
    record_payment(
        services,
        PaymentCommand(transaction_id, amount, "USD", PaymentStatus.COMPLETED, tax_amount=800),
        USER,
    )
    return transaction_id


def _refund(
    services: Services, transaction_id: str, key: str | None, simulate: str = "approve"
) -> RefundOutcome:
    command = RefundCommand(
        transaction_id,
        RefundReason.REQUESTED_BY_CUSTOMER,
        1_000,
        metadata={"simulate": simulate},
        idempotency_key=key,
    )
    return request_refund(services, command, USER)


def _one_refund_of(state: TransactionState, refund_id: str) -> TransactionState:
    """What reading only `refund_id` of a wholly read state should give."""
    refund = state.refunds[refund_id]
    entries = tuple(e for e in state.entries if e.seq in refund.entry_seqs)
    kept = {k: v for k, v in state.kept_outcomes.items() if k == refund_id}
    return TransactionState(state.head, entries, {refund_id: refund}, kept)


# --- what a reservation reads -----------------------------------------------------------------


def test_a_new_key_reads_the_head_alone(services: Services) -> None:
    store = services.store
    tid = _pay(services)
    for n in range(3):
        _refund(services, tid, f"key-{n}")

    state = store.load_for_refund(tid, "key-new")

    assert state.head == store.load(tid).head
    assert state.head.payment_reference == tid  # copied at recording: no entry is read for it
    assert (state.entries, state.refunds, state.kept_outcomes) == ((), {}, {})
    assert state.key_claim == KeyClaim("key-new", None)
    assert store.load_for_refund(tid, None) == replace(state, key_claim=None)


def test_a_used_key_brings_its_refund_with_its_entries_and_kept_answer(services: Services) -> None:
    store = services.store
    tid = _pay(services)
    _refund(services, tid, "key-a")
    pending = _refund(services, tid, "key-b", simulate="timeout").refund
    _refund(services, tid, "key-c")
    answer = normalized(ProcessorCode.APPROVED, "simulated", reference="re_1")
    store.keep_outcome(tid, pending.refund_id, answer.as_dict())

    state = store.load_for_refund(tid, "key-b")

    assert state.key_claim == KeyClaim("key-b", pending.refund_id)
    assert replace(state, key_claim=None) == _one_refund_of(store.load(tid), pending.refund_id)
    assert state.kept_outcomes == {pending.refund_id: answer.as_dict()}


def test_an_unknown_transaction_reads_as_nothing_stored(store: LedgerStore) -> None:
    state = store.load_for_refund("txn-none", "key-1")

    assert state.head.stored is False and state.summary.exists is False
    assert state.key_claim == KeyClaim("key-1", None)
    assert store.load_refund("txn-none", "txn-none-REFUND") == TransactionState(state.head)


# --- what settling reads ----------------------------------------------------------------------


def test_settling_reads_the_head_and_one_refund(services: Services) -> None:
    store = services.store
    tid = _pay(services)
    paid = _refund(services, tid, "key-a").refund
    pending = _refund(services, tid, None, simulate="timeout").refund
    _refund(services, tid, "key-c", simulate="decline")

    whole = store.load(tid)
    assert store.load_refund(tid, paid.refund_id) == _one_refund_of(whole, paid.refund_id)
    assert len(store.load_refund(tid, paid.refund_id).entries) == 2  # pending, then success
    assert store.load_refund(tid, pending.refund_id) == _one_refund_of(whole, pending.refund_id)
    assert store.load_refund(tid, f"{tid}-REFUND-9") == TransactionState(whole.head)


def test_a_settled_refund_read_alone_takes_a_late_payout(services: Services) -> None:
    """A late success for a refund voided as unsent needs the refund's own void entry: the
    partial read must carry it, or the payout would be left unbooked."""
    tid = _pay(services)
    voided = _refund(services, tid, "key-a", simulate="network_error").refund
    assert voided.status is RefundStatus.FAILED

    paid = normalized(ProcessorCode.APPROVED, "simulated", reference="re_late")
    settled, summary = settle(services, tid, voided.refund_id, paid, USER)

    assert settled.status is RefundStatus.SUCCESS
    assert summary.refunded_amount == 1_000
    assert services.store.load(tid).summary == summary


# --- the key's pointer ------------------------------------------------------------------------


def test_a_key_retried_after_a_retryable_failure_moves_to_the_new_refund(
    services: Services,
) -> None:
    store = services.store
    tid = _pay(services)
    unsent = _refund(services, tid, "key-a", simulate="network_error").refund
    assert unsent.status is RefundStatus.FAILED

    retried = _refund(services, tid, "key-a").refund
    again = _refund(services, tid, "key-a").refund

    assert retried.refund_id == f"{tid}-REFUND-2" and retried.status is RefundStatus.SUCCESS
    assert again == retried  # the pointer names the new refund: the third attempt resumes it
    claim = store.load_for_refund(tid, "key-a").key_claim
    assert claim == KeyClaim("key-a", retried.refund_id, earlier=(unsent.refund_id,))
    assert store.load(tid).summary.refunded_amount == 1_000


def test_a_key_of_a_declined_refund_stays_with_it(services: Services) -> None:
    tid = _pay(services)
    declined = _refund(services, tid, "key-a", simulate="decline").refund

    again = _refund(services, tid, "key-a").refund

    assert again.refund_id == declined.refund_id and again.status is RefundStatus.FAILED
    assert services.store.load(tid).summary.refund_count == 1


def _paid_with_reference(store: LedgerStore, transaction_id: str = "txn-1") -> TransactionState:
    builder = ChangeBuilder(store.load(transaction_id), NOW, USER.initiator, "corr")
    terms = PaymentTerms(10_000, PaymentStatus.COMPLETED, NOW)
    builder.add_entry(lambda ctx: payment_entry(ctx, terms), currency="USD")
    builder.audit(AuditAction.PAYMENT_RECORDED, amount=10_000, currency="USD")
    store.commit(builder.build(payment_reference=transaction_id))
    return store.load(transaction_id)


def _reservation(state: TransactionState, key: str, expected: str | None) -> tuple[Change, str]:
    builder = ChangeBuilder(state, NOW, USER.initiator, "corr")
    tid = state.summary.transaction_id
    n = state.summary.refund_count + 1
    refund_id = f"{tid}-REFUND-{n}"
    amounts = RefundAmounts(refund_id, 1_000, 0, 0)
    entry = builder.add_entry(lambda ctx: refund_pending_entry(ctx, amounts))
    builder.audit(AuditAction.REFUND_PENDING, refund_id=refund_id, amount=1_000)
    builder.put_refund(
        Refund(
            refund_id=refund_id,
            transaction_id=tid,
            status=RefundStatus.PENDING,
            amount=1_000,
            currency="USD",
            tax_amount=0,
            fee_amount=0,
            reason="requested_by_customer",
            created_at=NOW,
            updated_at=NOW,
            initiator_id=USER.initiator.id,
            entry_seqs=(entry.seq,),
            idempotency_key=key,
        )
    )
    return replace(builder.build(), key_move=KeyMove(key, expected, refund_id)), refund_id


def _snapshot(store: LedgerStore, transaction_id: str) -> tuple[Any, ...]:
    return store.load(transaction_id), store.audit_records(transaction_id)


@pytest.mark.parametrize("stale", [None, "txn-1-REFUND-7"])
def test_a_pointer_moves_only_from_the_refund_it_names(
    store: LedgerStore, stale: str | None
) -> None:
    # Given key-a's pointer naming the first refund
    first, first_id = _reservation(_paid_with_reference(store), "key-a", None)
    store.commit(first)
    # When a change computed from the current head expects the pointer to name another
    current = store.load("txn-1")
    wrong, _ = _reservation(current, "key-a", stale)
    before = _snapshot(store, "txn-1")
    # Then nothing of it is written, although its head condition holds
    with pytest.raises(ConcurrentUpdateError):
        store.commit(wrong)
    assert _snapshot(store, "txn-1") == before
    # And the change that expects the first refund moves the pointer
    right, right_id = _reservation(current, "key-a", first_id)
    store.commit(right)
    assert store.load_for_refund("txn-1", "key-a").key_claim == KeyClaim("key-a", right_id)


def test_another_key_has_its_own_pointer(store: LedgerStore) -> None:
    change, refund_id = _reservation(_paid_with_reference(store), "key-a", None)
    store.commit(change)

    other, other_id = _reservation(store.load("txn-1"), "key-b", None)
    store.commit(other)

    assert store.load_for_refund("txn-1", "key-a").key_claim == KeyClaim("key-a", refund_id)
    assert store.load_for_refund("txn-1", "key-b").key_claim == KeyClaim("key-b", other_id)


def _refusal(state: TransactionState, claim: KeyClaim) -> Change:
    """A refusal's audit record, conditional on the key's pointer as `claim` read it."""
    builder = ChangeBuilder(state, NOW, USER.initiator, "corr")
    builder.audit(AuditAction.REFUND_REJECTED, amount=1_000, currency="USD")
    return replace(builder.build(as_fact=True), key_guard=claim)


@pytest.mark.parametrize("read", [None, "txn-1-REFUND-7"])
def test_a_keyed_refusal_commits_only_while_the_pointer_is_as_it_read_it(
    store: LedgerStore, read: str | None
) -> None:
    # Given key-a's pointer naming a refund
    reserved, reserved_id = _reservation(_paid_with_reference(store), "key-a", None)
    store.commit(reserved)
    # When a refusal decided on the current head read the pointer absent, or naming another
    current = store.load("txn-1")
    stale = _refusal(current, KeyClaim("key-a", read))
    before = _snapshot(store, "txn-1")
    # Then nothing of it is written, although its head condition holds
    with pytest.raises(ConcurrentUpdateError):
        store.commit(stale)
    assert _snapshot(store, "txn-1") == before
    # And the refusal that read the pointer as it is commits, and moves no pointer
    store.commit(_refusal(current, KeyClaim("key-a", reserved_id)))
    assert store.load("txn-1").head.chain.seq > current.head.chain.seq
    assert store.load_for_refund("txn-1", "key-a").key_claim == KeyClaim("key-a", reserved_id)


def test_a_keyed_refusal_that_read_no_pointer_commits_while_there_is_none(
    store: LedgerStore,
) -> None:
    current = _paid_with_reference(store)

    store.commit(_refusal(current, KeyClaim("key-a")))

    assert store.load("txn-1").head.chain.seq > current.head.chain.seq
    assert store.load_for_refund("txn-1", "key-a").key_claim == KeyClaim("key-a")


# --- payments recorded before pointers --------------------------------------------------------


def test_a_payment_recorded_before_pointers_is_read_whole(store: LedgerStore) -> None:
    """Its earlier refunds' keys have no pointer: a reservation must see every refund."""
    builder = ChangeBuilder(store.load("txn-old"), NOW, USER.initiator, "corr")
    terms = PaymentTerms(10_000, PaymentStatus.COMPLETED, NOW)
    builder.add_entry(lambda ctx: payment_entry(ctx, terms), currency="USD")
    builder.audit(AuditAction.PAYMENT_RECORDED, amount=10_000, currency="USD")
    store.commit(builder.build())  # no payment_reference on the head, as before 0025
    legacy, refund_id = _reservation(store.load("txn-old"), "key-old", None)
    store.commit(replace(legacy, key_move=None))  # and no pointer for its key

    state = store.load_for_refund("txn-old", "key-old")

    assert replace(state, key_claim=None) == store.load("txn-old")
    assert state.refunds[refund_id].idempotency_key == "key-old"
    assert state.key_claim == KeyClaim("key-old", None)


# --- reads that are not one snapshot ----------------------------------------------------------


def test_a_refund_newer_than_its_head_is_refused_at_read(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A head read before the refund's reservation, then the refund: settling on the pair
    would book against a summary that never reserved it. Read again instead."""
    store = services.store
    tid = _pay(services)
    before = store.load_head(tid)
    pending = _refund(services, tid, "key-a", simulate="timeout").refund
    monkeypatch.setattr(store, "load_head", lambda _tid: before)

    with pytest.raises(ConcurrentUpdateError):
        store.load_refund(tid, pending.refund_id)


def test_a_refund_changed_since_its_head_without_an_entry_is_read(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer recorded as still pending moves nothing on the summary: no reason to refuse."""
    store = services.store
    tid = _pay(services)
    pending = _refund(services, tid, "key-a", simulate="timeout").refund
    before = store.load_head(tid)
    answer = normalized(ProcessorCode.PENDING, "simulated", reference="re_1")
    settle(services, tid, pending.refund_id, answer, USER)
    monkeypatch.setattr(store, "load_head", lambda _tid: before)

    state = store.load_refund(tid, pending.refund_id)

    assert state.head == before
    assert state.refunds[pending.refund_id].processor["code"] == "PENDING"
