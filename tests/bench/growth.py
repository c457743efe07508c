"""Row 4: read capacity as the tables grow, on DynamoDB Local through the service layer.

DynamoDB Local reports ConsumedCapacity: every Query the service makes (and, for a refund,
every GetItem and BatchGetItem too: decision 0025) is asked for it (ReturnConsumedCapacity=TOTAL,
added by a botocore hook) and its capacity, items read and time are recorded. The service runs
in this process on its own tables (a suffix), with the simulated processor kept in memory, so
only the ledger's own reads are counted.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from refund_service.adapters.dynamodb import codec
from refund_service.domain.refund import RefundReason
from refund_service.service.reconciler import reconcile
from refund_service.service.refunds import RefundCommand, request_refund
from refund_service.storage.schema import PENDING_REFUNDS_INDEX
from tests.support.world import USER, MutableClock, World, make_world

FILL_ITEM_BYTES = 600
FILL_PER_PARTITION = 10


@dataclass
class QueryRead:
    index: str | None
    capacity: float
    count: int
    scanned: int
    ms: float


@dataclass
class Reads:
    queries: list[QueryRead] = field(default_factory=list)

    def capacity(self, index: str | None = None) -> float:
        return sum(q.capacity for q in self.queries if q.index == index)

    def items(self, index: str | None = None) -> int:
        return sum(q.scanned for q in self.queries if q.index == index)

    def count(self, index: str | None = None) -> int:
        return sum(1 for q in self.queries if q.index == index)


REFUND_READ_CALLS = ("Query", "GetItem", "BatchGetItem")


def _consumed(parsed: dict[str, Any]) -> float:
    """A Query's or GetItem's ConsumedCapacity is one entry; BatchGetItem's a list, by table."""
    consumed = parsed.get("ConsumedCapacity") or {}
    entries = consumed if isinstance(consumed, list) else [consumed]
    return sum(float(e.get("CapacityUnits", float("nan"))) for e in entries)


def _items_read(parsed: dict[str, Any]) -> int:
    if "Responses" in parsed:  # BatchGetItem
        return sum(len(items) for items in parsed["Responses"].values())
    if "Item" in parsed:  # GetItem
        return 1
    return int(parsed.get("ScannedCount", 0))


@contextmanager
def recorded_reads(client: Any, calls: tuple[str, ...] = ("Query",)) -> Iterator[Reads]:
    """Every call of `calls` on `client` while inside, with the capacity DynamoDB says it
    consumed."""
    reads = Reads()
    local = threading.local()

    def ask(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"
        context["bench_index"] = params.get("IndexName")
        local.started = time.perf_counter()

    def record(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        items = _items_read(parsed)
        reads.queries.append(
            QueryRead(
                context.get("bench_index"),
                _consumed(parsed),
                int(parsed.get("Count", items)),
                items,
                (time.perf_counter() - getattr(local, "started", time.perf_counter())) * 1000,
            )
        )

    events = client.meta.events
    for call in calls:
        events.register(
            f"provide-client-params.dynamodb.{call}", ask, unique_id=f"bench-ask-{call}"
        )
        events.register(f"after-call.dynamodb.{call}", record, unique_id=f"bench-record-{call}")
    try:
        yield reads
    finally:
        for call in calls:
            events.unregister(
                f"provide-client-params.dynamodb.{call}", unique_id=f"bench-ask-{call}"
            )
            events.unregister(f"after-call.dynamodb.{call}", unique_id=f"bench-record-{call}")


def without_streams(client: Any, tables: dict[str, str]) -> None:
    """Turn off the streams of a bench world's tables. Nothing in these rows reads a stream
    (6a hands a change to the verifier itself), DynamoDB writes stream records apart from
    the write, and DynamoDB Local's cost per write grows with every stream record it holds:
    with them, a fill fell from about 500 to 16 items/s once the instance held some 25,000."""
    for name in tables.values():
        stream = client.describe_table(TableName=name)["Table"].get("StreamSpecification")
        if stream and stream.get("StreamEnabled"):
            client.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})


def bench_world(client: Any, clock: MutableClock, name: str) -> World:
    """The service on tables of its own (suffix `-<name>-<random>`), without streams."""
    world = make_world(client, clock, suffix=f"-{name}-{uuid.uuid4().hex[:6]}")
    without_streams(client, world.tables)
    return world


def log_fill(what: str, count: int, started: float) -> None:
    """One stderr line per table fill: how many items, how long, how many per second."""
    seconds = time.monotonic() - started
    rate = count / seconds if seconds else 0.0
    print(f"  filled {count:,} {what} in {seconds:.1f} s ({rate:,.0f} items/s)", file=sys.stderr)


def fill(client: Any, table: str, count: int, time_limit: float, start: int = 0) -> int:
    """Write `count` unrelated items (other partitions) with BatchWriteItem; returns how many
    were written before the time limit."""
    deadline = time.monotonic() + time_limit
    blob = "f" * FILL_ITEM_BYTES
    run = uuid.uuid4().hex[:6]

    def item(n: int) -> dict[str, Any]:
        return {
            "PutRequest": {
                "Item": {
                    "pk": {"S": f"TXN#fill-{run}-{n // FILL_PER_PARTITION}"},
                    "sk": {"S": f"ENTRY#{n % FILL_PER_PARTITION:08d}"},
                    "blob": {"S": blob},
                }
            }
        }

    def batch(first: int) -> int:
        if time.monotonic() > deadline:
            return 0
        requests = [item(n) for n in range(first, min(first + 25, start + count))]
        pending = {table: requests}
        while pending:
            answer = client.batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}
        return len(requests)

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        written = sum(pool.map(batch, range(start, start + count, 25)))
    log_fill("unrelated items", written, started)
    return written


def refund_reads(world: World, transaction_id: str, amount: int = 1) -> Reads:
    """Every read of one refund, with an idempotency key as the API always has."""
    command = RefundCommand(
        transaction_id, RefundReason.OTHER, amount=amount, idempotency_key=uuid.uuid4().hex
    )
    with recorded_reads(world.client, REFUND_READ_CALLS) as reads:
        request_refund(world.services, command, USER)
    return reads


def median_refund_capacity(world: World, payments: int = 3) -> tuple[float, float]:
    """(median Query capacity per refund, median Query ms) over fresh payments."""
    capacities, times = [], []
    for _ in range(payments):
        reads = refund_reads(world, world.pay(amount=100_000, tax=8_000))
        capacities.append(reads.capacity())
        times.append(sum(q.ms for q in reads.queries if q.index is None))
    return statistics.median(capacities), statistics.median(times)


@dataclass
class GrowthResult:
    unrelated_small: int
    unrelated_large: int
    unrelated_large_target: int
    capacity_small: float
    capacity_large: float
    ms_small: float
    ms_large: float
    fill_seconds: float
    earlier_few: int
    earlier_many: int
    capacity_few: float
    capacity_many: float
    items_few: int
    items_many: int
    settled_few: int
    settled_many: int
    index_capacity_few: float
    index_capacity_many: float
    index_items_few: int
    index_items_many: int
    pending_examined: int


def _with_earlier_refunds(world: World, earlier: int) -> tuple[float, int]:
    transaction_id = world.pay(amount=1_000_000, tax=80_000)
    for _ in range(earlier):
        request_refund(world.services, RefundCommand(transaction_id, RefundReason.OTHER, 1), USER)
    reads = refund_reads(world, transaction_id)
    return reads.capacity(), reads.items()


def _settled_copies(world: World, template: dict[str, Any], count: int, time_limit: float) -> int:
    """Copies of a refund record the reconciler settled, under other partitions."""
    deadline = time.monotonic() + time_limit
    table = world.tables["PaymentLedger"]
    run = uuid.uuid4().hex[:6]

    def batch(first: int) -> int:
        if time.monotonic() > deadline:
            return 0
        requests = []
        for n in range(first, min(first + 25, count)):
            refund_id = f"settled-{run}-{n}-REFUND"
            item = {
                **template,
                "pk": {"S": codec.partition_key(f"settled-{run}-{n}")},
                "sk": {"S": codec.REFUND_PREFIX + refund_id},
                "refund_id": {"S": refund_id},
                "refund_key": {"S": refund_id},
            }
            requests.append({"PutRequest": {"Item": item}})
        pending = {table: requests}
        while pending:
            pending = world.client.batch_write_item(RequestItems=pending).get("UnprocessedItems")
        return len(requests)

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        written = sum(pool.map(batch, range(0, count, 25)))
    log_fill("settled refund records", written, started)
    return written


def _pending(world: World, count: int) -> list[tuple[str, str]]:
    """Refunds whose processor answer was lost: pending until the reconciler asks."""
    made = []
    for _ in range(count):
        transaction_id = world.pay(amount=10_000)
        command = RefundCommand(
            transaction_id, RefundReason.OTHER, 100, metadata={"simulate": "timeout"}
        )
        outcome = request_refund(world.services, command, USER)
        made.append((transaction_id, outcome.refund.refund_id))
    world.clock.advance(minutes=10)
    return made


def _reconcile_reads(world: World, pending: int) -> tuple[float, int, int]:
    _pending(world, pending)
    with recorded_reads(world.client) as reads:
        report = reconcile(world.services, timedelta(minutes=5), timedelta(hours=1))
    return (
        reads.capacity(PENDING_REFUNDS_INDEX),
        reads.items(PENDING_REFUNDS_INDEX),
        report.examined,
    )


def measure(
    client: Any,
    *,
    unrelated: tuple[int, int] = (1_000, 100_000),
    earlier: tuple[int, int] = (1, 50),
    settled: tuple[int, int] = (10, 10_000),
    pending: int = 3,
    fill_time_limit: float = 240.0,
) -> GrowthResult:
    world = bench_world(client, MutableClock(), "bench")
    ledger = world.tables["PaymentLedger"]

    # unrelated items in other partitions
    small = fill(client, ledger, unrelated[0], fill_time_limit)
    capacity_small, ms_small = median_refund_capacity(world)
    started = time.monotonic()
    large = small + fill(client, ledger, unrelated[1] - small, fill_time_limit, start=small)
    fill_seconds = time.monotonic() - started
    capacity_large, ms_large = median_refund_capacity(world)

    # the payment's own history
    capacity_few, items_few = _with_earlier_refunds(world, earlier[0])
    capacity_many, items_many = _with_earlier_refunds(world, earlier[1])

    # the reconciler: refunds settled by it, then many more like them
    real = settled[0]
    transaction_id, refund_id = _pending(world, real)[0]
    settled_now = reconcile(world.services, timedelta(minutes=5), timedelta(hours=1))
    if len(settled_now.succeeded) != real:
        raise RuntimeError(f"the reconciler settled {settled_now.succeeded} of {real}")
    settled_item = client.get_item(
        TableName=ledger,
        Key={
            "pk": {"S": codec.partition_key(transaction_id)},
            "sk": {"S": codec.REFUND_PREFIX + refund_id},
        },
        ConsistentRead=True,
    )["Item"]
    if "pending_bucket" in settled_item:
        raise RuntimeError(f"the reconciler left {refund_id} in the pending index")
    index_few, index_items_few, examined_few = _reconcile_reads(world, pending)
    copies = _settled_copies(world, settled_item, settled[1] - real, fill_time_limit)
    index_many, index_items_many, examined_many = _reconcile_reads(world, pending)
    return GrowthResult(
        unrelated_small=small,
        unrelated_large=large,
        unrelated_large_target=unrelated[1],
        capacity_small=capacity_small,
        capacity_large=capacity_large,
        ms_small=ms_small,
        ms_large=ms_large,
        fill_seconds=fill_seconds,
        earlier_few=earlier[0],
        earlier_many=earlier[1],
        capacity_few=capacity_few,
        capacity_many=capacity_many,
        items_few=items_few,
        items_many=items_many,
        settled_few=real,
        settled_many=real + copies,
        index_capacity_few=index_few,
        index_capacity_many=index_many,
        index_items_few=index_items_few,
        index_items_many=index_items_many,
        pending_examined=min(examined_few, examined_many),
    )
