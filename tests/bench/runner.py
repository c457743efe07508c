"""`make bench`: run every benchmark once, print one table and write docs/performance.md."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tests.bench import change_work, growth, probes, report, throughput
from tests.bench import search as search_bench
from tests.bench.client import LoadResult
from tests.bench.stack import BenchStack, bench_stack, loopback_client
from tests.support.dynamodb_local import ROOT, dynamodb_local


@dataclass(frozen=True)
class BenchSettings:
    cold_runs: int = 5
    warm_refunds: int = 10
    requests: int = 200
    time_limit: float = 60.0
    wide_seconds: float = throughput.WIDE_SECONDS  # row 3g
    wide_per_client: int = throughput.WIDE_REFUNDS_PER_CLIENT
    unrelated: tuple[int, int] = (1_000, 100_000)
    earlier: tuple[int, int] = (1, 50)
    settled: tuple[int, int] = (10, 10_000)
    fill_time_limit: float = 240.0
    refunds: tuple[int, int] = (1_000, 100_000)
    day_refunds: tuple[int, int] = (10, 10_000)
    changed_among: tuple[int, int] = (1_000, 100_000)  # transactions in the table (row 6a)
    sweep_transactions: int = 300
    long_pending: tuple[int, int] = (10, 10_000)

    def describe(self) -> str:
        return (
            f"cold start median of {self.cold_runs} fresh Lambda-like processes (rows 1, 1b, "
            f"1c); AWS calls over {self.warm_refunds} warm refunds; {self.requests} requests (or "
            f"{self.time_limit:.0f} s) per load row, {self.wide_seconds:.0f} s for row 3g; "
            f"{self.unrelated[1]:,} unrelated items and {self.settled[1]:,} settled refunds at "
            f"most; {self.refunds[1]:,} refund records for search at most"
        )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class BenchResult:
    cold: probes.ColdStart
    restore: probes.Restore
    fx: probes.FirstFx
    calls: probes.AwsCalls
    load: list[throughput.Row]
    wide: LoadResult
    growth: growth.GrowthResult
    change: change_work.ChangeWorkResult
    rows: list[report.TableRow]


def run_bench(stack: BenchStack, growth_client: Any, settings: BenchSettings) -> BenchResult:
    """Every measure, in order; `growth_client` is a DynamoDB Local client of its own."""
    log(f"cold start: {settings.cold_runs} fresh processes each...")
    cold = probes.cold_start(stack, settings.cold_runs)
    log(f"first refund after a simulated SnapStart restore: {settings.cold_runs} processes...")
    restore = probes.snapstart_restore(stack, settings.cold_runs)
    log(f"first FX refund, stored rates and bundled history: {settings.cold_runs} each...")
    fx = probes.first_fx(stack, settings.cold_runs)
    log("AWS calls per refund...")
    calls = probes.aws_calls(stack, settings.warm_refunds)
    log("POST /refunds under load, and DynamoDB Local's two ceilings...")
    per_refund = calls.by_operation()
    load = throughput.measure(stack, settings.requests, settings.time_limit, per_refund)
    log(f"{throughput.WIDE.clients} clients for {settings.wide_seconds:.0f} s...")
    wide = throughput.wide_load(stack, settings.wide_seconds, settings.wide_per_client)
    log("read capacity as the tables grow...")
    grown = growth.measure(
        growth_client,
        unrelated=settings.unrelated,
        earlier=settings.earlier,
        settled=settings.settled,
        fill_time_limit=settings.fill_time_limit,
    )
    log("work per change: stream verification, the sweep, the reconciler's backlog...")
    change = change_work.measure(
        growth_client,
        transactions=settings.changed_among,
        sweep_transactions=settings.sweep_transactions,
        backlog=settings.long_pending,
    )
    rows = [
        report.cold_start_row(cold),
        report.restore_row(restore),
        report.first_fx_row(fx, cold),
        *report.aws_call_rows(calls),
        *report.load_rows(load, settings.requests, settings.time_limit),
        *report.same_calls_rows(load, settings.requests, settings.time_limit),
        report.wide_row(wide, load, settings.wide_seconds),
        *report.growth_rows(grown),
        *change_work.rows(change),
    ]
    return BenchResult(cold, restore, fx, calls, load, wide, grown, change, rows)


def search_rows(client: Any, settings: BenchSettings) -> list[report.TableRow]:
    """Rows 5a-5c, on the growth rows' DynamoDB Local, tables of their own."""
    log("refund search and the daily report...")
    measured = search_bench.measure(
        client,
        refunds=settings.refunds,
        day_refunds=settings.day_refunds,
        fill_time_limit=settings.fill_time_limit,
    )
    return search_bench.rows(measured)


def capped(settings: BenchSettings, at_most: int) -> BenchSettings:
    """The same run with no table larger than `at_most` items, for a loaded machine."""

    def cap(pair: tuple[int, int]) -> tuple[int, int]:
        return (min(pair[0], at_most), min(pair[1], at_most))

    return replace(
        settings,
        unrelated=cap(settings.unrelated),
        settled=cap(settings.settled),
        refunds=cap(settings.refunds),
        day_refunds=cap(settings.day_refunds),
        changed_among=cap(settings.changed_among),
        long_pending=cap(settings.long_pending),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    defaults = BenchSettings()
    parser.add_argument("--cold-runs", type=int, default=defaults.cold_runs)
    parser.add_argument("--requests", type=int, default=defaults.requests)
    parser.add_argument("--time-limit", type=float, default=defaults.time_limit)
    parser.add_argument("--unrelated", type=int, default=defaults.unrelated[1])
    parser.add_argument("--settled", type=int, default=defaults.settled[1])
    parser.add_argument(
        "--at-most",
        type=int,
        default=None,
        help="cap every large table size (unrelated items, refunds, changed transactions)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    settings = BenchSettings(
        cold_runs=args.cold_runs,
        requests=args.requests,
        time_limit=args.time_limit,
        unrelated=(min(defaults.unrelated[0], args.unrelated), args.unrelated),
        settled=(min(defaults.settled[0], args.settled), args.settled),
    )
    if args.at_most is not None:
        settings = capped(settings, args.at_most)
    started = time.monotonic()
    log("starting the local stack and a second DynamoDB Local, loopback only...")
    with bench_stack() as stack, dynamodb_local() as endpoint:
        growth_client = loopback_client("dynamodb", endpoint)
        result = run_bench(stack, growth_client, settings)
        rows = result.rows + search_rows(growth_client, settings)
    seconds = time.monotonic() - started
    profile = result.calls.profile
    print(report.render_table(rows))
    print()
    print(report.render_profile(profile))
    if not args.no_write:
        args.out.write_text(report.document(rows, profile, settings.describe(), seconds))
        log(f"written to {args.out} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
