"""What one refund reads does not grow with the payment's history (decision 0025).

Against DynamoDB Local, which reports ConsumedCapacity: every read call the store makes
(Query, GetItem, BatchGetItem) is asked for it, and a refund on a payment with 50 earlier
refunds must read what one with a single earlier refund reads, at most 2 RCU. Counted, not
timed. Also here: concurrent first uses of one idempotency key make exactly one reservation,
with no idempotency layer in front of the service to serialize them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from refund_service.domain.processor import ProcessorCode, normalized
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.service.refunds import RefundCommand, RefundOutcome, request_refund
from refund_service.service.settlement import settle
from tests.support.world import USER, MutableClock, World, make_world

READ_CALLS = ("Query", "GetItem", "BatchGetItem")
MAX_RESERVATION_RCU = 2.0


@dataclass
class Reads:
    calls: list[tuple[str, float, int]] = field(default_factory=list)  # (call, RCU, items)

    @property
    def capacity(self) -> float:
        return sum(rcu for _, rcu, _ in self.calls)

    @property
    def items(self) -> int:
        return sum(items for _, _, items in self.calls)


def _capacity(consumed: Any) -> float:
    """A Query's or GetItem's ConsumedCapacity is one entry, BatchGetItem's a list per table."""
    entries = consumed if isinstance(consumed, list) else [consumed]
    return sum(float(entry["CapacityUnits"]) for entry in entries)


def _items_read(call: str, parsed: dict[str, Any]) -> int:
    if call == "Query":
        return int(parsed.get("ScannedCount", 0))
    if call == "GetItem":
        return 1 if "Item" in parsed else 0
    return sum(len(items) for items in parsed.get("Responses", {}).values())


@contextmanager
def recorded_reads(client: Any) -> Iterator[Reads]:
    reads = Reads()

    def ask(params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"

    def recorder(call: str) -> Any:
        def record(parsed: dict[str, Any], **_: Any) -> None:
            reads.calls.append(
                (call, _capacity(parsed["ConsumedCapacity"]), _items_read(call, parsed))
            )

        return record

    events = client.meta.events
    for call in READ_CALLS:
        events.register(f"provide-client-params.dynamodb.{call}", ask, unique_id=f"ask-{call}")
        events.register(f"after-call.dynamodb.{call}", recorder(call), unique_id=f"rec-{call}")
    try:
        yield reads
    finally:
        for call in READ_CALLS:
            events.unregister(f"provide-client-params.dynamodb.{call}", unique_id=f"ask-{call}")
            events.unregister(f"after-call.dynamodb.{call}", unique_id=f"rec-{call}")


@pytest.fixture
def world(local_dynamodb: Any) -> World:
    return make_world(local_dynamodb, MutableClock(), suffix=f"-{uuid.uuid4().hex[:8]}")


def _command(transaction_id: str, key: str, simulate: str = "approve") -> RefundCommand:
    return RefundCommand(
        transaction_id,
        RefundReason.OTHER,
        100,
        metadata={"simulate": simulate},
        idempotency_key=key,
    )


def _refund(world: World, transaction_id: str, key: str, simulate: str = "approve") -> Any:
    return request_refund(world.services, _command(transaction_id, key, simulate), USER)


def _with_earlier_refunds(world: World, earlier: int) -> str:
    """A payment with `earlier` refunds of every kind: paid, declined, unsent, pending."""
    transaction_id = world.pay(amount=1_000_000, tax=80_000, fee=3_000)
    kinds = ("approve", "decline", "network_error", "timeout")
    for n in range(earlier):
        _refund(world, transaction_id, f"earlier-{n}", kinds[n % len(kinds)])
    return transaction_id


def _reads_of_a_refund(world: World, earlier: int) -> Reads:
    transaction_id = _with_earlier_refunds(world, earlier)
    with recorded_reads(world.client) as reads:
        outcome = _refund(world, transaction_id, "this-one")
    assert outcome.refund.status is RefundStatus.SUCCESS
    return reads


def test_a_refund_reads_the_same_after_fifty_earlier_refunds(world: World) -> None:
    few = _reads_of_a_refund(world, 1)
    many = _reads_of_a_refund(world, 50)

    assert many.calls == few.calls, (few, many)
    assert many.capacity <= MAX_RESERVATION_RCU
    assert many.items == 1  # the head; the new key has no pointer yet


def test_a_same_key_retry_reads_the_same_after_fifty_earlier_refunds(world: World) -> None:
    def retry_reads(earlier: int) -> Reads:
        transaction_id = _with_earlier_refunds(world, earlier)
        _refund(world, transaction_id, "retried")
        with recorded_reads(world.client) as reads:
            again = _refund(world, transaction_id, "retried")
        assert again.refund.status is RefundStatus.SUCCESS
        return reads

    few, many = retry_reads(1), retry_reads(50)

    assert many.calls == few.calls, (few, many)
    # head and pointer; the refund and its (absent) kept answer; its two entries
    assert many.items == 5


def test_settling_an_answer_reads_the_same_after_fifty_earlier_refunds(world: World) -> None:
    """A webhook or the reconciler settles with nothing read before: head and one refund."""

    def settle_reads(earlier: int) -> Reads:
        transaction_id = _with_earlier_refunds(world, earlier)
        pending = _refund(world, transaction_id, "late", simulate="timeout").refund
        paid = normalized(ProcessorCode.APPROVED, "simulated", reference="re_late")
        with recorded_reads(world.client) as reads:
            settled, _ = settle(world.services, transaction_id, pending.refund_id, paid, USER)
        assert settled.status is RefundStatus.SUCCESS
        return reads

    few, many = settle_reads(1), settle_reads(50)

    assert many.calls == few.calls, (few, many)
    assert many.items == 3  # the head, the refund, its pending entry


def test_concurrent_first_uses_of_one_key_make_one_reservation(world: World) -> None:
    world.services.sleep = time.sleep  # real back-off between optimistic retries
    world.services.policy = replace(world.services.policy, max_contention_seconds=120.0)
    transaction_id = world.pay(amount=100_000)
    sent: Counter[str] = Counter()
    lock = threading.Lock()
    inner = world.services.processor

    class Counting:
        name = inner.name

        def refund(self, request: Any) -> Any:
            with lock:
                sent[request.refund_id] += 1
            return inner.refund(request)

        def lookup(self, request: Any) -> Any:
            return inner.lookup(request)

    world.services.processor = Counting()  # type: ignore[assignment]
    count = 12
    barrier = threading.Barrier(count)

    def one(_: int) -> RefundOutcome | Exception:
        barrier.wait()
        try:
            return _refund(world, transaction_id, "one-key")
        except Exception as error:  # kept, so that the assertion below names it
            return error

    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(one, range(count)))

    outcomes = [r for r in results if isinstance(r, RefundOutcome)]
    assert len(outcomes) == count, [r for r in results if isinstance(r, Exception)]
    assert {o.refund.refund_id for o in outcomes} == {f"{transaction_id}-REFUND"}
    assert sent == Counter({f"{transaction_id}-REFUND": 1})
    summary = world.store.load(transaction_id).summary
    assert summary.refund_count == 1
    assert summary.refunded_amount + summary.pending_refund_amount == 100
