"""`make bench`: run every benchmark once, print one table and write docs/performance.md.

`--rows 3e,3f` runs only the sections those rows and their references need, prints only
those rows and writes no file unless `--out` names one. Each section logs its seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tests.bench import change_work, growth, probes, report, throughput
from tests.bench import search as search_bench
from tests.bench.client import LoadResult
from tests.bench.stack import BenchStack, bench_stack, fill_dynamodb_local, loopback_client
from tests.support.dynamodb_local import ROOT

DOCUMENT = ROOT / "docs" / "performance.md"


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


ROW_SECTIONS: dict[str, str] = {
    "1": "cold",
    "1b": "restore",
    "1c": "fx",
    "2a": "calls",
    "2b": "calls",
    **{f"3{key}": "load" for key in "abcdef"},
    "3g": "wide",
    **{f"4{key}": "growth" for key in "abc"},
    **{f"6{key}": "change" for key in "abc"},
    **{f"5{key}": "search" for key in "abc"},
}
ALL_ROWS = tuple(ROW_SECTIONS)  # the table's order
SECTION_ORDER = ("cold", "restore", "fx", "calls", "load", "wide", "growth", "change", "search")
STACK_SECTIONS = frozenset(SECTION_ORDER[:6])  # the rest run on a DynamoDB Local of their own
LOAD_ROWS = "abcd"  # 3a-3d: one per throughput.SHAPES entry
SAME_CALLS_ROWS = "ef"  # 3e, 3f: the shapes marked same_calls, in order
# What a row's reference is measured from, beyond its own section.
ROW_NEEDS: dict[str, tuple[str, ...]] = {
    "1c": ("1",),  # row 1's first refund
    "3e": ("2a",),  # the ceiling makes row 2a's calls
    "3f": ("2a",),
    "3g": ("3c",),  # 16 clients' throughput
}


def _same_calls_shapes() -> list[throughput.Shape]:
    return [shape for shape in throughput.SHAPES if shape.same_calls]


@dataclass(frozen=True)
class Selection:
    """The rows asked for, and what must be measured to print them."""

    asked: tuple[str, ...]
    measured: frozenset[str]

    @classmethod
    def of(cls, rows: list[str] | None = None) -> Selection:
        asked = tuple(rows) if rows else ALL_ROWS
        unknown = [row for row in asked if row not in ROW_SECTIONS]
        if unknown:
            raise ValueError(f"no such row: {', '.join(unknown)} (rows: {', '.join(ALL_ROWS)})")
        measured = set(asked)
        for row in asked:
            measured.update(ROW_NEEDS.get(row, ()))
        return cls(tuple(r for r in ALL_ROWS if r in asked), frozenset(measured))

    @property
    def sections(self) -> list[str]:
        wanted = {ROW_SECTIONS[row] for row in self.measured}
        return [name for name in SECTION_ORDER if name in wanted]

    @property
    def needs_stack(self) -> bool:
        return not STACK_SECTIONS.isdisjoint(self.sections)

    @property
    def needs_second_dynamodb(self) -> bool:
        return not STACK_SECTIONS.issuperset(self.sections)

    def shapes(self) -> list[throughput.Shape]:
        """The load shapes to run; the same-calls ceiling only where 3e or 3f is asked."""
        same_calls = _same_calls_shapes()
        chosen = []
        for n, shape in enumerate(throughput.SHAPES):
            with_ceiling = shape.same_calls and (
                f"3{SAME_CALLS_ROWS[same_calls.index(shape)]}" in self.measured
            )
            if f"3{LOAD_ROWS[n]}" in self.measured or with_ceiling:
                chosen.append(shape if with_ceiling else replace(shape, same_calls=False))
        return chosen


def load_table_rows(load: list[throughput.Row], settings: BenchSettings) -> list[report.TableRow]:
    """Rows 3a-3f for the shapes measured, each keyed by its shape, not its place in `load`."""
    labels = [shape.label for shape in throughput.SHAPES]
    same_labels = [shape.label for shape in _same_calls_shapes()]
    measured = []
    for row in load:
        (table_row,) = report.load_rows([row], settings.requests, settings.time_limit)
        key = f"3{LOAD_ROWS[labels.index(row.shape.label)]}"
        measured.append(replace(table_row, key=key))
    for row in load:
        for table_row in report.same_calls_rows([row], settings.requests, settings.time_limit):
            key = f"3{SAME_CALLS_ROWS[same_labels.index(row.shape.label)]}"
            measured.append(replace(table_row, key=key))
    return measured


@dataclass
class BenchResult:
    """What a run measured; a section not run leaves its field None."""

    selection: Selection
    cold: probes.ColdStart | None = None
    restore: probes.Restore | None = None
    fx: probes.FirstFx | None = None
    calls: probes.AwsCalls | None = None
    load: list[throughput.Row] = field(default_factory=list)
    load_rows: list[report.TableRow] = field(default_factory=list)
    wide: LoadResult | None = None
    wide_seconds: float = 0.0
    growth: growth.GrowthResult | None = None
    change: change_work.ChangeWorkResult | None = None
    search: search_bench.SearchBenchResult | None = None
    sections_run: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> list[report.TableRow]:
        """The asked rows, in the table's order."""
        by_key = {row.key: row for row in self._all_rows()}
        return [by_key[key] for key in self.selection.asked if key in by_key]

    def _all_rows(self) -> list[report.TableRow]:
        rows: list[report.TableRow] = []
        if self.cold:
            rows.append(report.cold_start_row(self.cold))
        if self.restore:
            rows.append(report.restore_row(self.restore))
        if self.fx and self.cold:
            rows.append(report.first_fx_row(self.fx, self.cold))
        if self.calls:
            rows += report.aws_call_rows(self.calls)
        if self.wide:
            rows.append(report.wide_row(self.wide, self.load, self.wide_seconds))
        rows += self.load_rows
        if self.growth:
            rows += report.growth_rows(self.growth)
        if self.change:
            rows += change_work.rows(self.change)
        if self.search:
            rows += search_bench.rows(self.search)
        return rows


class Sections:
    """Each section of a run: what it measures, onto a BenchResult."""

    def __init__(
        self, stack: BenchStack | None, second_client: Any, settings: BenchSettings
    ) -> None:
        self.stack = stack
        self.second_client = second_client
        self.settings = settings

    def _stack(self) -> BenchStack:
        if self.stack is None:
            raise RuntimeError("this section runs on the local stack, and none was started")
        return self.stack

    def cold(self, result: BenchResult) -> None:
        log(f"cold start: {self.settings.cold_runs} fresh processes each...")
        result.cold = probes.cold_start(self._stack(), self.settings.cold_runs)

    def restore(self, result: BenchResult) -> None:
        runs = self.settings.cold_runs
        log(f"first refund after a simulated SnapStart restore: {runs} processes...")
        result.restore = probes.snapstart_restore(self._stack(), runs)

    def fx(self, result: BenchResult) -> None:
        runs = self.settings.cold_runs
        log(f"first FX refund, stored rates and bundled history: {runs} each...")
        result.fx = probes.first_fx(self._stack(), runs)

    def calls(self, result: BenchResult) -> None:
        log("AWS calls per refund...")
        result.calls = probes.aws_calls(self._stack(), self.settings.warm_refunds)

    def load(self, result: BenchResult) -> None:
        shapes = result.selection.shapes()
        log(f"POST /refunds under load ({len(shapes)} shapes), and DynamoDB Local's ceilings...")
        per_refund = result.calls.by_operation() if result.calls else {}
        settings = self.settings
        result.load = throughput.measure(
            self._stack(), settings.requests, settings.time_limit, per_refund, shapes
        )
        result.load_rows = load_table_rows(result.load, settings)

    def wide(self, result: BenchResult) -> None:
        settings = self.settings
        log(f"{throughput.WIDE.clients} clients for {settings.wide_seconds:.0f} s...")
        result.wide = throughput.wide_load(
            self._stack(), settings.wide_seconds, settings.wide_per_client
        )
        result.wide_seconds = settings.wide_seconds

    def growth(self, result: BenchResult) -> None:
        log("read capacity as the tables grow...")
        settings = self.settings
        result.growth = growth.measure(
            self.second_client,
            unrelated=settings.unrelated,
            earlier=settings.earlier,
            settled=settings.settled,
            fill_time_limit=settings.fill_time_limit,
        )

    def change(self, result: BenchResult) -> None:
        log("work per change: stream verification, the sweep, the reconciler's backlog...")
        settings = self.settings
        result.change = change_work.measure(
            self.second_client,
            transactions=settings.changed_among,
            sweep_transactions=settings.sweep_transactions,
            backlog=settings.long_pending,
        )

    def search(self, result: BenchResult) -> None:
        log("refund search and the daily report...")
        settings = self.settings
        result.search = search_bench.measure(
            self.second_client,
            refunds=settings.refunds,
            day_refunds=settings.day_refunds,
            fill_time_limit=settings.fill_time_limit,
        )


def run_bench(
    stack: BenchStack | None,
    second_client: Any,
    settings: BenchSettings,
    selection: Selection | None = None,
) -> BenchResult:
    """The sections the selection needs, in order; `second_client` is a DynamoDB Local client
    of its own, for the sections that fill tables (growth, change work, search)."""
    selection = selection or Selection.of()
    result = BenchResult(selection)
    sections = Sections(stack, second_client, settings)
    for name in selection.sections:
        started = time.monotonic()
        getattr(sections, name)(result)
        result.seconds[name] = time.monotonic() - started
        result.sections_run.append(name)
        log(f"  {name}: {result.seconds[name]:.1f} s")
    return result


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


def _rows_argument(text: str) -> list[str]:
    return [row.strip() for row in text.split(",") if row.strip()]


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
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
    parser.add_argument(
        "--rows",
        type=_rows_argument,
        default=None,
        help="only these rows, e.g. 2a,3e,3f (and what their references need); "
        "docs/performance.md is then left alone unless --out is given",
    )
    parser.add_argument("--out", type=Path, default=None, help="default: docs/performance.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    try:
        args.selection = Selection.of(args.rows)
    except ValueError as error:
        parser.error(str(error))
    return args


def output_path(args: argparse.Namespace) -> Path | None:
    """Where the document goes: nowhere with --no-write, nor with --rows unless --out."""
    if args.no_write or (args.rows and args.out is None):
        return None
    out: Path = args.out or DOCUMENT
    return out


def settings_from(args: argparse.Namespace) -> BenchSettings:
    defaults = BenchSettings()
    settings = BenchSettings(
        cold_runs=args.cold_runs,
        requests=args.requests,
        time_limit=args.time_limit,
        unrelated=(min(defaults.unrelated[0], args.unrelated), args.unrelated),
        settled=(min(defaults.settled[0], args.settled), args.settled),
    )
    return capped(settings, args.at_most) if args.at_most is not None else settings


@contextmanager
def environment(selection: Selection) -> Iterator[tuple[BenchStack | None, Any]]:
    """The local stack and the second DynamoDB Local, each only if a chosen section runs on it."""
    with ExitStack() as started:
        log("starting what the chosen rows run on, loopback only...")
        stack = started.enter_context(bench_stack()) if selection.needs_stack else None
        client = None
        if selection.needs_second_dynamodb:
            endpoint = started.enter_context(fill_dynamodb_local())
            client = loopback_client("dynamodb", endpoint)
        yield stack, client


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    selection: Selection = args.selection
    out = output_path(args)
    if out is not None and "calls" not in selection.sections:
        # the document's profile comes from row 2a's process
        selection = Selection.of([*selection.asked, "2a"])
    settings = settings_from(args)
    started = time.monotonic()
    with environment(selection) as (stack, client):
        result = run_bench(stack, client, settings, selection)
    seconds = time.monotonic() - started
    log("seconds by section: " + ", ".join(f"{k} {v:.0f}" for k, v in result.seconds.items()))
    print(report.render_table(result.rows))
    if result.calls is not None:
        print()
        print(report.render_profile(result.calls.profile))
    if out is not None and result.calls is not None:
        document = report.document(result.rows, result.calls.profile, settings.describe(), seconds)
        out.write_text(document)
        log(f"written to {out} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
