"""Attacks on reading a refund's head and its key's pointer in one BatchGetItem (decision 0025),
on DynamoDB Local: real races between retries under one key that failed retryably and requests
under other keys competing for what is left. The head and the pointer of each request are two
strongly consistent reads that other commits may fall between, in either order."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from refund_service.domain.errors import DomainError
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.service.queries import verify_transaction
from refund_service.service.refunds import RefundCommand, request_refund
from tests.support.interleavings import UnreachableFor
from tests.support.world import USER, World

SECONDS = 60.0
KEY = "key-raced"
# Four retries under KEY for 6 000 and one request under each of two other keys for 4 000, on
# a payment of 10 000: KEY and one other find room, or the two others and KEY is refused. A
# retry reading the head after its key's refund and the pointer before is refused for it,
# unless the refusal's pointer check stops it.
AMOUNTS = {KEY: 6_000, "key-other-a": 4_000, "key-other-b": 4_000}
REQUESTS = (KEY, KEY, KEY, KEY, "key-other-a", "key-other-b")


def failed_under_key(world: World) -> str:
    """A payment whose first refund under KEY failed retryably: the pointer names it."""
    tid = world.pay(amount=10_000)
    processor = world.services.processor
    world.services.processor = UnreachableFor(processor, 1)  # type: ignore[assignment]
    command = RefundCommand(tid, RefundReason.OTHER, AMOUNTS[KEY], idempotency_key=KEY)
    failed = request_refund(world.services, command, USER).refund
    world.services.processor = processor
    assert failed.status is RefundStatus.FAILED
    return failed.refund_id


def race(world: World, tid: str) -> list[str]:
    barrier = threading.Barrier(len(REQUESTS))

    def ask(key: str) -> str:
        barrier.wait()
        command = RefundCommand(tid, RefundReason.OTHER, AMOUNTS[key], idempotency_key=key)
        try:
            return request_refund(world.services, command, USER).refund.refund_id
        except DomainError as error:
            return error.code.value

    with ThreadPoolExecutor(max_workers=len(REQUESTS)) as pool:
        return list(pool.map(ask, REQUESTS))


def test_racing_retries_under_one_key_pay_it_once_and_all_answer_with_its_refund(
    world: World,
) -> None:
    deadline, rounds = time.monotonic() + SECONDS, 0
    while time.monotonic() < deadline:
        rounds += 1
        failed_id = failed_under_key(world)
        tid = failed_id.split("-REFUND")[0]
        answers = dict(enumerate(race(world, tid)))
        state = world.store.load(tid)
        paid = {r: n for r, n in world.memory.payments().items() if r.startswith(tid)}
        under_key = {
            r.refund_id
            for r in state.refunds.values()
            if r.idempotency_key == KEY and r.refund_id != failed_id
        }
        keyed = {answers[i] for i, key in enumerate(REQUESTS) if key == KEY}
        # Money: each refund paid once, KEY by one refund at most, the ledger agreeing
        assert set(paid.values()) <= {1}
        assert len(under_key) <= 1, (under_key, answers)
        amounts = {r.refund_id: r.amount for r in state.refunds.values()}
        assert state.summary.refunded_amount == sum(amounts[r] for r in paid)
        assert verify_transaction(world.store, tid).ok
        # Answers: every request under KEY names its one refund, or all are refused
        if under_key:
            assert keyed == under_key, (answers, paid)
        else:
            assert not keyed & set(state.refunds), answers
    assert rounds > 1
