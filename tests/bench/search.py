"""Rows 5a-5c: refund search and the daily report (decision 0014), on DynamoDB Local.

Reads are DynamoDB Local's ConsumedCapacity for every Query (growth.recorded_reads). Refund
records beyond the first are copies of a refund the service really made, each with its own
id, payment and creation time and its index attributes written by the codec, loaded with
BatchWriteItem. Write cost is the capacity DynamoDB Local reports for the ledger table and
each of its indexes (ReturnConsumedCapacity=INDEXES) over real refunds, once on a ledger
table with the search indexes and once on one without them.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from refund_service.adapters.dynamodb import codec
from refund_service.adapters.dynamodb.ledger_store import DynamoDBLedgerStore
from refund_service.adapters.processors.simulated import InMemorySimulatorMemory, SimulatedProcessor
from refund_service.domain.refund import Refund, RefundReason, RefundStatus
from refund_service.service.context import ServicePolicy, Services, timestamp
from refund_service.service.refunds import RefundCommand, request_refund
from refund_service.service.search import SearchQuery, daily_report, search
from refund_service.storage.schema import (
    ALL_TABLES,
    LEDGER_TABLE,
    REFUNDS_BY_DAY_INDEX,
    REFUNDS_BY_STATUS_INDEX,
    REFUNDS_BY_TRANSACTION_INDEX,
    TableSpec,
    create_table_request,
)
from tests.bench.growth import Reads, bench_world, log_fill, recorded_reads
from tests.bench.report import TableRow
from tests.support.world import USER, MutableClock, RecordingMetrics, World, rates

SEARCH_INDEXES = (REFUNDS_BY_TRANSACTION_INDEX, REFUNDS_BY_STATUS_INDEX, REFUNDS_BY_DAY_INDEX)
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SPREAD_DAYS = 10  # loaded refunds are spread over the 10 days before NOW
REPORT_DAYS = (date(2026, 12, 1), date(2026, 12, 2))  # days of their own for the report rows
WRITE_SAMPLES = 5


@dataclass
class PageReads:
    capacity: float
    items: int
    queries: int

    @classmethod
    def of(cls, reads: Reads) -> PageReads:
        return cls(
            sum(q.capacity for q in reads.queries),
            sum(q.scanned for q in reads.queries),
            len(reads.queries),
        )


@dataclass
class SearchBenchResult:
    refunds_small: int = 0
    refunds_large: int = 0
    refunds_large_target: int = 0
    status_small: PageReads | None = None
    status_large: PageReads | None = None
    day_small: PageReads | None = None
    day_large: PageReads | None = None
    day_few: int = 0
    day_many: int = 0
    report_few: PageReads | None = None
    report_many: PageReads | None = None
    write_before: float = 0.0
    write_after: float = 0.0
    write_by_index: dict[str, float] = field(default_factory=dict)


def _copy(template: Refund, run: str, n: int, created: datetime) -> dict[str, Any]:
    transaction_id = f"bench-{run}-{n}"
    refund = replace(
        template,
        refund_id=f"{transaction_id}-REFUND",
        transaction_id=transaction_id,
        created_at=timestamp(created),
        updated_at=timestamp(created),
    )
    return codec.serialize(codec.refund_to_item(refund))


def load_copies(world: World, template: Refund, times: list[datetime], time_limit: float) -> int:
    """Refund records created at `times`, each on a payment of its own; how many were loaded
    before the time limit."""
    deadline = time.monotonic() + time_limit
    table = world.tables["PaymentLedger"]
    run = uuid.uuid4().hex[:6]

    def batch(first: int) -> int:
        if time.monotonic() > deadline:
            return 0
        chunk = range(first, min(first + 25, len(times)))
        pending = {
            table: [{"PutRequest": {"Item": _copy(template, run, n, times[n])}} for n in chunk]
        }
        while pending:
            pending = world.client.batch_write_item(RequestItems=pending).get("UnprocessedItems")
        return len(chunk)

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        written = sum(pool.map(batch, range(0, len(times), 25)))
    log_fill("refund records", written, started)
    return written


def spread(count: int) -> list[datetime]:
    """`count` creation times evenly over the SPREAD_DAYS before NOW."""
    step = timedelta(days=SPREAD_DAYS) / max(count, 1)
    return [NOW - timedelta(seconds=1) - step * n for n in range(count)]


def within(day: date, count: int) -> list[datetime]:
    first = datetime(day.year, day.month, day.day, tzinfo=UTC)
    step = timedelta(days=1) / max(count, 1)
    return [first + step * n for n in range(count)]


def page_reads(world: World, query: SearchQuery) -> PageReads:
    with recorded_reads(world.client) as reads:
        page = search(world.store, query, NOW)
    if len(page.refunds) != query.limit:
        raise RuntimeError(f"a page of {query.limit} found {len(page.refunds)}")
    return PageReads.of(reads)


def _pages(world: World) -> tuple[PageReads, PageReads]:
    by_status = SearchQuery(status=RefundStatus.SUCCESS, limit=25)
    # three days (about 300 refunds at the smaller size), read through the day index
    by_day = SearchQuery(created_from=NOW - timedelta(days=3), created_to=NOW, limit=25)
    return page_reads(world, by_status), page_reads(world, by_day)


def report_reads(world: World, day: date, expected: int) -> PageReads:
    with recorded_reads(world.client) as reads:
        rows = daily_report(world.store, day)
    if sum(row.count for row in rows) != expected:
        raise RuntimeError(f"the report for {day} counted {rows}, not {expected}")
    return PageReads.of(reads)


@contextmanager
def written(client: Any, table: str) -> Iterator[dict[str, float]]:
    """Write capacity of every TransactWriteItems inside, on `table` and by index."""
    spent: dict[str, float] = defaultdict(float)

    def ask(params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "INDEXES"

    def record(parsed: dict[str, Any], **_: Any) -> None:
        for consumed in parsed.get("ConsumedCapacity") or []:
            if consumed.get("TableName") != table:
                continue
            spent["table"] += consumed.get("Table", {}).get("CapacityUnits", 0.0)
            for index, used in (consumed.get("GlobalSecondaryIndexes") or {}).items():
                spent[index] += used.get("CapacityUnits", 0.0)

    events = client.meta.events
    events.register("provide-client-params.dynamodb.TransactWriteItems", ask, unique_id="w-ask")
    events.register("after-call.dynamodb.TransactWriteItems", record, unique_id="w-record")
    try:
        yield spent
    finally:
        events.unregister("provide-client-params.dynamodb.TransactWriteItems", unique_id="w-ask")
        events.unregister("after-call.dynamodb.TransactWriteItems", unique_id="w-record")


def world_without_search_indexes(client: Any) -> World:
    """The service on tables whose ledger lacks the search indexes: the write cost before."""
    suffix = f"-before-{uuid.uuid4().hex[:6]}"
    ledger = replace(
        LEDGER_TABLE, indexes=tuple(i for i in LEDGER_TABLE.indexes if i.name not in SEARCH_INDEXES)
    )
    specs: list[TableSpec] = [ledger if s is LEDGER_TABLE else s for s in ALL_TABLES]
    tables = {}
    for spec in specs:
        tables[spec.construct_id] = spec.default_name + suffix
        request = create_table_request(spec, tables[spec.construct_id])
        request.pop("StreamSpecification", None)  # as bench_world's tables: no stream
        client.create_table(**request)
    memory, metrics, clock = InMemorySimulatorMemory(), RecordingMetrics(), MutableClock(NOW)
    services = Services(
        store=DynamoDBLedgerStore(client, tables["PaymentLedger"], tables["PaymentAuditTrail"]),
        processor=SimulatedProcessor(memory),
        rates=rates(),
        policy=ServicePolicy(),
        metrics=metrics,
        clock=clock,
        sleep=lambda _seconds: None,
    )
    return World(client, tables, services, memory, metrics, clock)


def write_cost(world: World) -> dict[str, float]:
    """Mean write capacity per successful refund (reserve and settle), by table and index."""
    payments = [world.pay(amount=10_000, tax=800) for _ in range(WRITE_SAMPLES)]
    with written(world.client, world.tables["PaymentLedger"]) as spent:
        for transaction_id in payments:
            command = RefundCommand(transaction_id, RefundReason.OTHER, 2_500)
            request_refund(world.services, command, USER)
    return {name: units / WRITE_SAMPLES for name, units in spent.items()}


def measure(
    client: Any,
    *,
    refunds: tuple[int, int] = (1_000, 100_000),
    day_refunds: tuple[int, int] = (10, 10_000),
    fill_time_limit: float = 240.0,
) -> SearchBenchResult:
    world = bench_world(client, MutableClock(NOW), "search")
    result = SearchBenchResult(refunds_large_target=refunds[1])
    # the write cost, with and without the search indexes
    after = write_cost(world)
    result.write_after = sum(after.values())
    result.write_by_index = {k: v for k, v in after.items() if k in SEARCH_INDEXES}
    result.write_before = sum(write_cost(world_without_search_indexes(client)).values())
    transaction_id = world.pay(amount=10_000, tax=800)
    refund = request_refund(
        world.services, RefundCommand(transaction_id, RefundReason.OTHER, 1_000), USER
    ).refund
    # one search page, with few and with many refunds in the table
    result.refunds_small = load_copies(world, refund, spread(refunds[0]), fill_time_limit)
    result.status_small, result.day_small = _pages(world)
    more = refunds[1] - result.refunds_small
    result.refunds_large = result.refunds_small + load_copies(
        world, refund, spread(more), fill_time_limit
    )
    result.status_large, result.day_large = _pages(world)
    # the report, for a day of few and a day of many
    # a day's load may stop at its time bound: the report must count what was loaded
    result.day_few, result.day_many = (
        load_copies(world, refund, within(day, count), fill_time_limit)
        for day, count in zip(REPORT_DAYS, day_refunds, strict=True)
    )
    result.report_few = report_reads(world, REPORT_DAYS[0], result.day_few)
    result.report_many = report_reads(world, REPORT_DAYS[1], result.day_many)
    return result


def _page(reads: PageReads | None) -> str:
    assert reads is not None
    return f"{reads.capacity:g} RCU ({reads.items} items, {reads.queries} Queries)"


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x" if reference else "n/a"


def rows(r: SearchBenchResult) -> list[TableRow]:
    assert r.status_small and r.status_large and r.day_small and r.day_large
    assert r.report_few and r.report_many
    partial = (
        ""
        if r.refunds_large >= r.refunds_large_target
        else f" (of {r.refunds_large_target:,} asked; the load stopped at its time bound)"
    )
    added = ", ".join(f"{name} {units:g}" for name, units in sorted(r.write_by_index.items()))
    return [
        TableRow(
            "5a",
            f"Read capacity of one search page (25 refunds), {r.refunds_small:,} vs "
            f"{r.refunds_large:,} refunds in the table{partial}",
            f"by status {_page(r.status_large)}; by time {_page(r.day_large)}",
            f"by status {_page(r.status_small)}; by time {_page(r.day_small)} with "
            f"{r.refunds_small:,}",
            _ratio(r.status_large.capacity, r.status_small.capacity),
            "A page is one Query per shard it merges (8 for a status or a day), each reading "
            "about its share of the page: what it reads follows the page size, not the table. "
            "Each Query costs at least 0.5 RCU, so the shards set the floor.",
        ),
        TableRow(
            "5b",
            f"Read capacity of the daily report, a day of {r.day_few:,} vs {r.day_many:,} refunds",
            _page(r.report_many),
            f"{_page(r.report_few)} for {r.day_few:,}",
            _ratio(r.report_many.capacity, r.report_few.capacity),
            "The report reads its day's 8 index partitions whole, so it grows with that day's "
            "refunds and with nothing else (other days hold "
            f"{r.refunds_large:,} more).",
        ),
        TableRow(
            "5c",
            "Write capacity per successful refund on the ledger table and its indexes "
            "(reserve and settle, transactional)",
            f"{r.write_after:g} WCU with the search indexes ({added})",
            f"{r.write_before:g} WCU without them",
            _ratio(r.write_after, r.write_before),
            "Each refund record write also writes the three search indexes (the status index "
            "twice when the status changes: out of one partition, into another); transactional "
            "writes count double.",
        ),
    ]
