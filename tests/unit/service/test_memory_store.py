"""One contract, two stores: the in-memory LedgerStore must behave as the DynamoDB one does.

Every test here runs against both, the DynamoDB store on moto, so the fake used by the fast
service tests cannot drift from the store the service runs on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from refund_service.adapters.dynamodb.ledger_store import DynamoDBLedgerStore
from refund_service.adapters.processors.simulated import (
    InMemorySimulatorMemory,
    SimulatedProcessor,
)
from refund_service.domain.audit import AuditAction, RepeatTally
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
from refund_service.service.context import timestamp
from refund_service.service.payments import PaymentCommand, record_payment
from refund_service.service.ports import (
    Change,
    ConcurrentUpdateError,
    LedgerStore,
    TransactionState,
)
from refund_service.service.queries import verify_transaction
from refund_service.service.reconciler import reconcile
from refund_service.service.refunds import RefundCommand, request_refund
from tests.support.memory_store import InMemoryLedgerStore
from tests.support.memory_world import memory_services
from tests.support.world import START, USER, MutableClock, create_tables

NOW = timestamp(START)


def _dynamodb_store(request: pytest.FixtureRequest) -> DynamoDBLedgerStore:
    client = request.getfixturevalue("moto_dynamodb")
    tables = create_tables(client)
    return DynamoDBLedgerStore(client, tables["PaymentLedger"], tables["PaymentAuditTrail"])


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> LedgerStore:
    if request.param == "memory":
        return InMemoryLedgerStore()
    return _dynamodb_store(request)


# --- building changes by hand -----------------------------------------------------------------


def _payment_change(state: TransactionState, amount: int = 10_000, alias: str = "") -> Change:
    builder = ChangeBuilder(state, NOW, USER.initiator, "corr")
    terms = PaymentTerms(amount, PaymentStatus.COMPLETED, NOW)
    builder.add_entry(lambda ctx: payment_entry(ctx, terms), currency="USD")
    builder.audit(AuditAction.PAYMENT_RECORDED, amount=amount, currency="USD")
    change = builder.build()
    return replace(change, payment_aliases=(alias,)) if alias else change


def _refund(transaction_id: str, n: int, amount: int, seq: int, **changes: Any) -> Refund:
    return Refund(
        refund_id=f"{transaction_id}-REFUND" + ("" if n == 1 else f"-{n}"),
        transaction_id=transaction_id,
        status=RefundStatus.PENDING,
        amount=amount,
        currency="USD",
        tax_amount=0,
        fee_amount=0,
        reason="requested_by_customer",
        created_at=NOW,
        updated_at=NOW,
        initiator_id=USER.initiator.id,
        metadata={"ticket": "T-1"},
        entry_seqs=(seq,),
        pending_since=changes.pop("pending_since", NOW),
        **changes,
    )


def _reservation_change(state: TransactionState, amount: int, **refund_changes: Any) -> Change:
    builder = ChangeBuilder(state, NOW, USER.initiator, "corr")
    tid = state.summary.transaction_id
    n = state.summary.refund_count + 1
    refund = _refund(tid, n, amount, state.summary.version + 1, **refund_changes)
    amounts = RefundAmounts(refund.refund_id, amount, 0, 0)
    builder.add_entry(lambda ctx: refund_pending_entry(ctx, amounts))
    builder.audit(AuditAction.REFUND_PENDING, refund_id=refund.refund_id, amount=amount)
    builder.put_refund(refund)
    return builder.build()


def _paid(store: LedgerStore, transaction_id: str = "txn-1", alias: str = "") -> TransactionState:
    store.commit(_payment_change(store.load(transaction_id), alias=alias))
    return store.load(transaction_id)


def _snapshot(store: LedgerStore, transaction_id: str) -> tuple[Any, ...]:
    state = store.load(transaction_id)
    return state, store.audit_records(transaction_id)


# --- reads of what is not there ---------------------------------------------------------------


def test_an_unknown_transaction_loads_as_nothing_stored(store: LedgerStore) -> None:
    state = store.load("txn-none")

    assert state.head.stored is False
    assert state.summary.exists is False
    assert state.summary.transaction_id == "txn-none"
    assert (state.entries, state.refunds, state.kept_outcomes) == ((), {}, {})
    assert store.audit_records("txn-none") == []
    assert store.find_refund("txn-none-REFUND") is None
    assert store.find_payment("pi_none") is None
    assert list(store.transaction_ids()) == []


def test_a_head_without_a_payment_is_stored_but_not_listed(store: LedgerStore) -> None:
    """A refusal audited against a transaction never recorded keeps a chain, not a summary."""
    builder = ChangeBuilder(store.load("txn-x"), NOW, USER.initiator, None)
    builder.audit(AuditAction.IDEMPOTENCY_KEY_REUSED)
    store.commit(builder.build())
    _paid(store, "txn-1")

    state = store.load("txn-x")
    assert state.head.stored is True
    assert state.summary.exists is False
    assert len(store.audit_records("txn-x")) == 1
    assert list(store.transaction_ids()) == ["txn-1"]


# --- commit -----------------------------------------------------------------------------------


def test_a_commit_is_read_back_whole_and_in_order(store: LedgerStore) -> None:
    first = _payment_change(store.load("txn-1"), alias="pi_1")
    store.commit(first)
    second = _reservation_change(store.load("txn-1"), 3_000)
    store.commit(second)

    state = store.load("txn-1")
    assert state.head == replace(second.head, stored=True)
    assert state.entries == first.entries + second.entries
    assert state.refunds == {r.refund_id: r for r in second.refunds}
    assert store.audit_records("txn-1") == list(first.audit + second.audit)
    assert store.find_refund("txn-1-REFUND") == "txn-1"
    assert store.find_payment("pi_1") == "txn-1"
    assert list(store.transaction_ids()) == ["txn-1"]


def test_a_commit_from_a_head_that_moved_on_writes_nothing(store: LedgerStore) -> None:
    before = _paid(store)
    winner = _reservation_change(before, 3_000)
    loser = _reservation_change(before, 4_000)
    store.commit(winner)
    expected = _snapshot(store, "txn-1")

    with pytest.raises(ConcurrentUpdateError):
        store.commit(loser)

    assert _snapshot(store, "txn-1") == expected


def test_a_stale_head_is_refused_even_when_nothing_it_writes_exists_yet(
    store: LedgerStore,
) -> None:
    before = _paid(store)
    store.commit(_reservation_change(before, 3_000))
    stale = _reservation_change(before, 4_000)
    unclaimed = replace(stale, entries=(), audit=tuple(replace(a, seq=99) for a in stale.audit))
    expected = _snapshot(store, "txn-1")

    with pytest.raises(ConcurrentUpdateError):
        store.commit(unclaimed)

    assert _snapshot(store, "txn-1") == expected


def _counted(state: TransactionState, count: int) -> Change:
    """A repeated refusal counted on the head alone, conditional on the tally read at `count`."""
    tally = RepeatTally("fp-1", "REFUND_REJECTED", "ALREADY_REFUNDED", "u", NOW, NOW, count)
    head = replace(state.head, repeats={"fp-1": replace(tally, count=count + 1)})
    return Change(state.head, head, repeat_guard=("fp-1", count), touched_at=NOW)


def test_a_count_of_a_tally_that_moved_on_writes_nothing(store: LedgerStore) -> None:
    # Given a tally counted once on the head
    first = _paid(store)
    tally = RepeatTally("fp-1", "REFUND_REJECTED", "ALREADY_REFUNDED", "u", NOW, NOW, 1)
    store.commit(Change(first.head, replace(first.head, repeats={"fp-1": tally}), touched_at=NOW))
    read = store.load("txn-1")
    # And another request's count committed since (the audit chain is unchanged)
    store.commit(_counted(read, 1))
    expected = _snapshot(store, "txn-1")
    # When a count decided on the same read commits, then nothing of it is written
    with pytest.raises(ConcurrentUpdateError):
        store.commit(_counted(read, 1))
    assert _snapshot(store, "txn-1") == expected
    assert store.load("txn-1").head.repeats["fp-1"].count == 2


def test_a_first_write_over_an_existing_head_is_refused(store: LedgerStore) -> None:
    empty = store.load("txn-1")
    store.commit(_payment_change(empty))
    expected = _snapshot(store, "txn-1")

    with pytest.raises(ConcurrentUpdateError):
        store.commit(_payment_change(empty, amount=20_000))

    assert _snapshot(store, "txn-1") == expected


WRITTEN_AGAIN: dict[str, Callable[[Change, TransactionState, list[Any]], Change]] = {
    "entry": lambda change, state, audit: replace(change, entries=(state.entries[0],)),
    "audit record": lambda change, state, audit: replace(change, audit=(audit[0],)),
    "payment alias": lambda change, state, audit: replace(change, payment_aliases=("pi_1",)),
}


@pytest.mark.parametrize("what", WRITTEN_AGAIN)
def test_nothing_already_written_is_overwritten_and_the_whole_commit_fails(
    store: LedgerStore, what: str
) -> None:
    state = _paid(store, alias="pi_1")
    change = WRITTEN_AGAIN[what](
        _reservation_change(state, 3_000), state, store.audit_records("txn-1")
    )
    expected = _snapshot(store, "txn-1")

    with pytest.raises(ConcurrentUpdateError):
        store.commit(change)

    assert _snapshot(store, "txn-1") == expected
    assert store.find_refund("txn-1-REFUND") is None


def test_a_payment_alias_names_one_transaction_only(store: LedgerStore) -> None:
    _paid(store, "txn-1", alias="pi_1")

    with pytest.raises(ConcurrentUpdateError):
        store.commit(_payment_change(store.load("txn-2"), alias="pi_1"))

    assert store.find_payment("pi_1") == "txn-1"
    assert store.load("txn-2").head.stored is False


def test_a_refund_record_is_replaced_by_a_later_commit(store: LedgerStore) -> None:
    store.commit(_reservation_change(_paid(store), 3_000))
    state = store.load("txn-1")
    refund = state.refunds["txn-1-REFUND"]
    builder = ChangeBuilder(state, NOW, USER.initiator, None)
    builder.audit(AuditAction.REFUND_SUCCEEDED, refund_id=refund.refund_id)
    settled = replace(refund, status=RefundStatus.SUCCESS, pending_since=None)
    builder.put_refund(settled)

    store.commit(builder.build())

    assert store.load("txn-1").refunds == {refund.refund_id: settled}


def test_what_a_load_returns_is_a_copy(store: LedgerStore) -> None:
    store.commit(_reservation_change(_paid(store), 3_000))
    loaded = store.load("txn-1")

    loaded.refunds["txn-1-REFUND"].metadata["ticket"] = "changed"
    loaded.refunds.clear()
    store.audit_records("txn-1")[0].details["x"] = 1

    again = store.load("txn-1")
    assert again.refunds["txn-1-REFUND"].metadata == {"ticket": "T-1"}
    assert "x" not in store.audit_records("txn-1")[0].details


# --- kept outcomes ----------------------------------------------------------------------------


def test_the_first_kept_outcome_stays(store: LedgerStore) -> None:
    store.commit(_reservation_change(_paid(store), 3_000))
    approved = normalized(ProcessorCode.APPROVED, "simulated", reference="re_1").as_dict()
    declined = normalized(ProcessorCode.DECLINED, "simulated").as_dict()
    head_before = store.load("txn-1").head

    store.keep_outcome("txn-1", "txn-1-REFUND", approved)
    store.keep_outcome("txn-1", "txn-1-REFUND", declined)

    state = store.load("txn-1")
    assert state.kept_outcomes == {"txn-1-REFUND": approved}
    assert state.head == head_before  # kept apart from the contended head


# --- the pending-refunds index ----------------------------------------------------------------


def _pending_at(store: LedgerStore, minutes: int, transaction_id: str) -> None:
    since = timestamp(START + timedelta(minutes=minutes))
    store.commit(_reservation_change(_paid(store, transaction_id), 1_000, pending_since=since))


def test_pending_refunds_are_listed_oldest_first_before_the_cutoff(store: LedgerStore) -> None:
    _pending_at(store, 5, "txn-b")
    _pending_at(store, 1, "txn-a")
    _pending_at(store, 9, "txn-c")

    listed = store.pending_refunds(START + timedelta(minutes=6), limit=10)

    assert [(r.transaction_id, r.refund_id) for r in listed] == [
        ("txn-a", "txn-a-REFUND"),
        ("txn-b", "txn-b-REFUND"),
    ]
    assert listed[0].pending_since == timestamp(START + timedelta(minutes=1))
    assert len(store.pending_refunds(START + timedelta(minutes=60), limit=2)) == 2
    assert store.pending_refunds(START + timedelta(minutes=1), limit=10) == []


def test_the_pending_index_compares_moments_as_text(store: LedgerStore) -> None:
    """As the GSI does: "...00.500+00:00" sorts before "...00.500000+00:00"."""
    moment = START + timedelta(minutes=1, milliseconds=500)
    store.commit(_reservation_change(_paid(store, "txn-a"), 1_000, pending_since=timestamp(moment)))

    assert [r.refund_id for r in store.pending_refunds(moment, limit=10)] == ["txn-a-REFUND"]
    assert store.pending_refunds(moment - timedelta(milliseconds=1), limit=10) == []


def test_a_settled_refund_leaves_the_pending_index(store: LedgerStore) -> None:
    _pending_at(store, 1, "txn-a")
    state = store.load("txn-a")
    builder = ChangeBuilder(state, NOW, USER.initiator, None)
    builder.audit(AuditAction.REFUND_FAILED, refund_id="txn-a-REFUND")
    builder.put_refund(
        replace(state.refunds["txn-a-REFUND"], status=RefundStatus.FAILED, pending_since=None)
    )
    store.commit(builder.build())

    assert store.pending_refunds(START + timedelta(days=1), limit=10) == []


# --- the service on either store leaves the same state ----------------------------------------


def _service_scenario(store: LedgerStore) -> None:
    """A payment, a paid refund, a lost answer settled by the reconciler, a refusal."""
    clock = MutableClock()
    services = memory_services(SimulatedProcessor(InMemorySimulatorMemory()), clock, store=store)
    record_payment(
        services,
        PaymentCommand("txn-s", 10_000, "USD", PaymentStatus.COMPLETED, tax_amount=1_000),
        USER,
    )
    reason = RefundReason.REQUESTED_BY_CUSTOMER
    request_refund(services, RefundCommand("txn-s", reason, 2_000, idempotency_key="k1"), USER)
    lost = {"simulate": "timeout"}
    request_refund(services, RefundCommand("txn-s", reason, 3_000, metadata=lost), USER)
    clock.advance(minutes=10)
    reconcile(services, older_than=timedelta(minutes=5), stale_after=timedelta(hours=1))
    with pytest.raises(Exception, match="refundable"):
        request_refund(services, RefundCommand("txn-s", reason, 9_000), USER)


def test_the_same_service_scenario_leaves_the_same_state_in_both_stores(
    request: pytest.FixtureRequest,
) -> None:
    memory, dynamodb = InMemoryLedgerStore(), _dynamodb_store(request)

    _service_scenario(memory)
    _service_scenario(dynamodb)

    assert memory.load("txn-s") == dynamodb.load("txn-s")
    assert memory.audit_records("txn-s") == dynamodb.audit_records("txn-s")
    assert verify_transaction(memory, "txn-s").ok
    refunds = memory.load("txn-s").refunds
    assert [r.status for r in refunds.values()] == [RefundStatus.SUCCESS] * 2
