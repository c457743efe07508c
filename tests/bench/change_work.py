"""Rows 5: work that follows change, not history, on DynamoDB Local through the service layer.

6a: what verifying one changed transaction from the stream reads, with few vs many
transactions in the table. 6b: the verification sweep's rate per Scan segment (one segment,
one thread), wall and CPU time per transaction: docs/decisions/0016-verification-sweep.md
sizes the 10-million sweep from it. 6c: the scheduled reconciler's work per run with few vs
many long-pending refunds, each lookup costing a second of its 240 s budget, and whether a new
refund is settled in the run after it came due.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from refund_service.adapters.dynamodb.coordination import DynamoDBCheckpoints
from refund_service.adapters.dynamodb.pending_window import DynamoDBPendingWindow
from refund_service.adapters.dynamodb.segment_scan import DynamoDBSegmentScanner
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRequest,
    ProcessorResult,
    normalized,
)
from refund_service.domain.refund import RefundReason
from refund_service.service.change_stream import ChangeBatch, StreamChange
from refund_service.service.events import RefundEvent
from refund_service.service.reconciler import Budget, reconcile_in_turn
from refund_service.service.refunds import RefundCommand, request_refund
from refund_service.service.verification import SWEEP_GROUPS, SWEEP_SEGMENTS, Sweep
from tests.bench.growth import bench_world, log_fill, recorded_reads
from tests.support.world import USER, MutableClock, World

RUN_SECONDS = 240.0  # the reconciler's timeout
LOOKUP_SECONDS = 1.0  # what each processor lookup is made to cost the budget
PER_REFUND_SECONDS = 25.0


@dataclass(frozen=True)
class VerifyCost:
    queries: int
    capacity: float
    ms: float


@dataclass(frozen=True)
class ReconcileRun:
    examined: int
    queries: int
    ms: float
    new_settled: bool


@dataclass
class ChangeWorkResult:
    transactions: tuple[int, int]
    verify: tuple[VerifyCost, VerifyCost]
    sweep_checked: int
    sweep_seconds: float
    sweep_cpu_seconds: float
    backlog: tuple[int, int]
    runs: tuple[ReconcileRun, ReconcileRun]

    @property
    def sweep_per_second(self) -> float:
        return self.sweep_checked / self.sweep_seconds if self.sweep_seconds else 0.0


class _NoSink:
    def publish(self, events: list[RefundEvent]) -> None:
        return None


def _heads(world: World, count: int, start: int) -> None:
    """`count` more transactions' head items (other partitions), written in batches."""
    table = world.tables["PaymentLedger"]
    run = uuid.uuid4().hex[:6]

    def batch(first: int) -> None:
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"TXN#fill-{run}-{n}"},
                        "sk": {"S": "HEAD"},
                        "transaction_id": {"S": f"fill-{run}-{n}"},
                        "blob": {"S": "f" * 600},
                    }
                }
            }
            for n in range(first, min(first + 25, start + count))
        ]
        pending: dict[str, Any] = {table: requests}
        while pending:
            pending = world.client.batch_write_item(RequestItems=pending).get("UnprocessedItems")

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(batch, range(start, start + count, 25)))
    log_fill("head items", count, started)


def _verify_cost(world: World, samples: int = 5) -> VerifyCost:
    """Median reads to verify one changed transaction, as the stream publisher does."""
    costs = []
    for _ in range(samples):
        transaction_id = world.pay(amount=5_000)
        entry = world.store.load(transaction_id).entries[0]
        batch = ChangeBatch(world.store, _NoSink(), world.metrics)
        started = time.perf_counter()
        with recorded_reads(world.client) as reads:
            batch.handle(StreamChange("1", transaction_id, entry))
        ms = (time.perf_counter() - started) * 1000
        costs.append(VerifyCost(len(reads.queries), reads.capacity(), ms))
    return VerifyCost(
        int(statistics.median(c.queries for c in costs)),
        statistics.median(c.capacity for c in costs),
        statistics.median(c.ms for c in costs),
    )


def _sweep_rate(client: Any, transactions: int) -> tuple[int, float, float]:
    world = bench_world(client, MutableClock(), "sweep")
    for n in range(transactions):
        world.pay(amount=1_000 + n)
    sweep = Sweep(
        world.store,
        DynamoDBSegmentScanner(client, world.tables["PaymentLedger"]),
        DynamoDBCheckpoints(client, world.tables["Idempotency"]),
        segments=1,
        workers=1,
        time_left=lambda: 900.0,
        per_page=60.0,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    report = sweep.run("bench")
    return report.checked_now, time.perf_counter() - wall, time.process_time() - cpu


class _UndecidedProcessor:
    """Every refund but `decided` stays pending when looked up; each lookup costs time."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name
        self.decided: set[str] = set()
        self.elapsed = 0.0

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        result: ProcessorResult = self.inner.refund(request)
        return result

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        self.elapsed += LOOKUP_SECONDS
        if request.refund_id not in self.decided:
            return normalized(ProcessorCode.PENDING, self.name)
        found: ProcessorResult | None = self.inner.lookup(request)
        return found

    def refunds_between(self, since: datetime, until: datetime) -> None:
        """It cannot list its refunds: the pending-refund reconciler alone is measured."""
        return None


def _pending_refund(world: World) -> tuple[str, str]:
    transaction_id = world.pay(amount=1_000)
    command = RefundCommand(
        transaction_id, RefundReason.OTHER, 100, metadata={"simulate": "pending"}
    )
    return transaction_id, request_refund(world.services, command, USER).refund.refund_id


def _clone(world: World, transaction_id: str, count: int) -> None:
    """`count` copies of a transaction's head and pending refund record under new ids: what
    the reconciler reads of a long-pending refund (it never folds the entries), written in
    a fraction of the time the whole partitions would take."""
    table = world.tables["PaymentLedger"]
    items = [
        item
        for item in world.client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"TXN#{transaction_id}"}},
        )["Items"]
        if item["sk"]["S"] == "HEAD" or item["sk"]["S"].startswith("REFUND#")
    ]
    template = json.dumps(items)
    run = uuid.uuid4().hex[:6]

    def batch(first: int) -> None:
        requests = []
        for n in range(first, min(first + 12, count)):
            copied = json.loads(template.replace(transaction_id, f"bk-{run}-{n:06d}"))
            requests += [{"PutRequest": {"Item": item}} for item in copied]
        for chunk in range(0, len(requests), 25):
            pending: dict[str, Any] = {table: requests[chunk : chunk + 25]}
            while pending:
                answer = world.client.batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems")

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(batch, range(0, count, 12)))
    log_fill("pending refunds (head and record)", count, started)


def _reconciler_run(client: Any, backlog: int) -> ReconcileRun:
    world = bench_world(client, MutableClock(), "rec")
    template, _ = _pending_refund(world)
    _clone(world, template, backlog - 1)
    processor = _UndecidedProcessor(world.services.processor)
    world.services.processor = processor
    world.clock.advance(days=2)

    def run() -> tuple[Any, int, float]:
        started_at, started = processor.elapsed, time.perf_counter()
        with recorded_reads(world.client) as reads:
            report = reconcile_in_turn(
                world.services,
                DynamoDBPendingWindow(world.client, world.tables["PaymentLedger"]),
                DynamoDBCheckpoints(world.client, world.tables["Idempotency"]),
                older_than=timedelta(minutes=5),
                stale_after=timedelta(hours=24),
                budget=Budget(
                    lambda: RUN_SECONDS - (processor.elapsed - started_at), PER_REFUND_SECONDS
                ),
            )
        return report, len(reads.queries), (time.perf_counter() - started) * 1000

    run()  # the backlog is under way, as it is in a service that has been running
    _, new = _pending_refund(world)
    processor.decided.add(new)
    world.clock.advance(minutes=6)
    report, queries, ms = run()
    return ReconcileRun(report.examined, queries, ms, new in report.succeeded)


def measure(
    client: Any,
    *,
    transactions: tuple[int, int] = (1_000, 100_000),
    sweep_transactions: int = 300,
    backlog: tuple[int, int] = (10, 10_000),
) -> ChangeWorkResult:
    world = bench_world(client, MutableClock(), "chg")
    _heads(world, transactions[0], 0)
    small = _verify_cost(world)
    _heads(world, transactions[1] - transactions[0], transactions[0])
    large = _verify_cost(world)
    checked, seconds, cpu = _sweep_rate(client, sweep_transactions)
    runs = (_reconciler_run(client, backlog[0]), _reconciler_run(client, backlog[1]))
    return ChangeWorkResult(transactions, (small, large), checked, seconds, cpu, backlog, runs)


TEN_MILLION = 10_000_000
RUN_BUDGET_SECONDS = 14 * 60  # a run's useful time inside its 15-minute timeout
# 1,769 MB of Lambda memory is one vCPU; each group's run has its own (handlers/verifier.py).


def ten_million_sweep(result: ChangeWorkResult) -> tuple[float, float, int]:
    """(wall seconds bound by DynamoDB, CPU seconds per group's vCPU, runs of 14 minutes per
    group) for a sweep of ten million transactions, from the measured per-transaction costs."""
    per_transaction = result.sweep_seconds / max(result.sweep_checked, 1)
    cpu_per_transaction = result.sweep_cpu_seconds / max(result.sweep_checked, 1)
    wall = TEN_MILLION * per_transaction / SWEEP_SEGMENTS
    cpu = TEN_MILLION * cpu_per_transaction / SWEEP_GROUPS
    runs = int(-(-max(wall, cpu) // RUN_BUDGET_SECONDS))
    return wall, cpu, runs


def rows(result: ChangeWorkResult) -> list[Any]:
    from tests.bench.report import TableRow

    small, large = result.verify
    few, many = result.runs
    wall, cpu, runs = ten_million_sweep(result)
    per_ms = 1000 * result.sweep_seconds / max(result.sweep_checked, 1)
    cpu_ms = 1000 * result.sweep_cpu_seconds / max(result.sweep_checked, 1)
    ratio = f"{large.capacity / small.capacity:.2f}x" if small.capacity else "n/a"
    return [
        TableRow(
            "6a",
            f"Verification per changed transaction (stream path), {result.transactions[0]:,} vs "
            f"{result.transactions[1]:,} transactions in the table",
            f"{large.queries} Queries, {large.capacity:g} RCU, {large.ms:,.1f} ms",
            f"{small.queries} Queries, {small.capacity:g} RCU, {small.ms:,.1f} ms with "
            f"{result.transactions[0]:,}",
            ratio,
            "Each change costs two consistent Queries (its partition, its audit trail) "
            "whatever the table holds: verification follows the rate of change.",
        ),
        TableRow(
            "6b",
            f"Verification sweep, one Scan segment on one thread ({result.sweep_checked} "
            "transactions)",
            f"{result.sweep_per_second:,.0f} transactions/s ({per_ms:.1f} ms wall, "
            f"{cpu_ms:.1f} ms CPU each)",
            f"10M transactions, {SWEEP_SEGMENTS} segments in {SWEEP_GROUPS} groups: "
            f"{wall / 60:,.0f} min bound by DynamoDB, {cpu / 60:,.0f} min of CPU per group",
            "—",
            f"Each group needs {runs} runs of 14 minutes (one every 30 minutes, the groups "
            f"side by side): the day's sweep ends about {runs / 2:.1f} h after midnight, "
            "resuming from its checkpoints (docs/decisions/0016-verification-sweep.md).",
        ),
        TableRow(
            "6c",
            f"Reconciler work per run, {result.backlog[0]:,} vs {result.backlog[1]:,} "
            f"long-pending refunds (lookups cost {LOOKUP_SECONDS:g} s of {RUN_SECONDS:g} s)",
            f"{many.examined} examined, {many.queries} Queries, {many.ms:,.0f} ms; new refund "
            f"settled: {'yes' if many.new_settled else 'NO'}",
            f"{few.examined} examined, {few.queries} Queries, {few.ms:,.0f} ms; new refund "
            f"settled: {'yes' if few.new_settled else 'NO'}",
            f"{many.examined / few.examined:.2f}x" if few.examined else "n/a",
            "A run is bounded by its time budget, not by the backlog, and the refunds that "
            "came due since the last run go first.",
        ),
    ]
