"""Identical refusals on a known payment are counted, not each written to the audit trail."""

from __future__ import annotations

from dataclasses import replace

import pytest

from refund_service.domain.audit import AuditAction
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.refund import RefundReason
from refund_service.service.ports import Change, ConcurrentUpdateError
from refund_service.service.queries import get_audit, verify_transaction
from refund_service.service.refunds import RefundCommand, request_refund
from tests.support.memory_store import InMemoryLedgerStore
from tests.support.world import USER, World

ATTEMPTS = 3_700


def refuse(world: World, transaction_id: str, amount: int, key: str) -> ErrorCode:
    command = RefundCommand(transaction_id, RefundReason.OTHER, amount, idempotency_key=key)
    with pytest.raises(DomainError) as refused:
        request_refund(world.services, command, USER)
    return refused.value.code


def records(world: World, transaction_id: str) -> list[AuditAction]:
    return [r.action for r in world.services.store.audit_records(transaction_id)]


def test_thousands_of_identical_refusals_leave_a_few_records_and_their_count(
    world: World,
) -> None:
    # (on the in-memory store, contract-tested against DynamoDB: 3,700 requests on moto take
    # minutes, and moto is not what is under test here)
    store = InMemoryLedgerStore()
    world.services.store = store
    # Given a payment of 10,000 and a caller asking, again and again, for 20,000 back
    tid = world.pay(amount=10_000)
    written_before = len(records(world, tid))
    for attempt in range(ATTEMPTS):
        assert refuse(world, tid, 20_000, f"k-{attempt}") is ErrorCode.AMOUNT_EXCEEDS_REFUNDABLE
        world.clock.advance(milliseconds=100)  # 6 minutes in all: one window
    # Then the audit trail grew by a bounded number of records: the first refusal in full,
    # then one at each power of two of the count (2, 4, ... 2048)
    written = records(world, tid)[written_before:]
    assert len(written) <= 20
    assert written.count(AuditAction.REFUND_REJECTED) == 12
    # And the trail says how many happened: the chain attests 2048, the head counts them all
    view = get_audit(store, tid)
    assert view.chain.valid
    (tally,) = view.repeats
    assert (tally.count, tally.recorded) == (ATTEMPTS, 2048)
    assert tally.error_code == "AMOUNT_EXCEEDS_REFUNDABLE"
    last = store.audit_records(tid)[-1]
    assert last.details["repeated"] == 2048
    assert last.details["first_seq"] == tally.first_seq
    assert verify_transaction(store, tid).ok


def test_a_different_refusal_or_request_is_recorded_in_full(world: World) -> None:
    # Given one refusal already recorded
    tid = world.pay(amount=10_000)
    refuse(world, tid, 20_000, "k-1")
    before = len(records(world, tid))
    # When the same caller asks for another amount, also refused
    refuse(world, tid, 30_000, "k-2")
    # Then that is a new request: its three records are written
    assert records(world, tid)[before:] == [
        AuditAction.LEDGER_QUERIED,
        AuditAction.REFUND_REQUESTED,
        AuditAction.REFUND_REJECTED,
    ]


def test_a_closed_window_puts_its_final_count_in_the_chain(world: World) -> None:
    # Given 5 identical refusals: the chain attests 4, the head counts 5
    tid = world.pay(amount=10_000)
    for attempt in range(5):
        refuse(world, tid, 20_000, f"k-{attempt}")
    assert [(t.count, t.recorded) for t in get_audit(world.store, tid).repeats] == [(5, 4)]
    # When the same refusal comes again after the window
    world.clock.advance(hours=2)
    refuse(world, tid, 20_000, "k-late")
    # Then the closed window's count of 5 is in the chain, and a new window starts at 1
    trail = world.store.audit_records(tid)
    counted = [r for r in trail if r.action is AuditAction.REFUSALS_COUNTED]
    assert [r.details["repeated"] for r in counted] == [5]
    assert [(t.count, t.recorded) for t in get_audit(world.store, tid).repeats] == [(1, 1)]
    assert verify_transaction(world.store, tid).ok


def test_a_count_is_not_lost_when_the_head_moved_between_read_and_write(world: World) -> None:
    # Given a tally of 2 on the head, and a stale view of it
    tid = world.pay(amount=10_000)
    refuse(world, tid, 20_000, "k-1")
    refuse(world, tid, 20_000, "k-2")
    stale = world.store.load(tid)
    refuse(world, tid, 20_000, "k-3")  # count 3: the head alone changes
    # When a change computed from the stale head (count 2 -> 3 again) is committed
    (tally,) = stale.head.repeats.values()
    again = replace(stale.head, repeats={tally.fingerprint: replace(tally, count=3)})
    guard = (tally.fingerprint, tally.count)
    # Then it is refused as a concurrent update, so the caller counts again from the head
    with pytest.raises(ConcurrentUpdateError):
        world.store.commit(Change(stale.head, again, repeat_guard=guard, touched_at="x"))
    assert [t.count for t in world.store.load(tid).head.repeats.values()] == [3]
