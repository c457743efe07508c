"""The full verification sweep: every transaction, in parallel Scan segments, resumable.

The change stream verifies every changed transaction within minutes (service/change_stream.py);
the sweep is the daily backstop that also covers what never changes. Its work is split into
`segments` DynamoDB parallel-Scan segments, walked by `workers` threads; after each page a
segment saves where it stands, so a run that stops (its time is up, it failed) leaves the next
run to resume, never to start over. docs/decisions/0016-verification-sweep.md has the sizing.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from refund_service.service.anchoring import AnchorStore
from refund_service.service.ports import LedgerStore
from refund_service.service.queries import Verification, verify_transaction
from refund_service.service.reconciler import Checkpoints

PAGE = 100  # items a Scan page evaluates
SWEEP_SEGMENTS = 64
# Runs side by side, each on its own group of segments (scheduled separately by the stack).
SWEEP_GROUPS = 8


class SegmentScanner(Protocol):
    def page(
        self, segment: int, segments: int, start: dict[str, Any] | None, limit: int
    ) -> tuple[list[str], dict[str, Any] | None]:
        """The transaction ids in one page of a segment, and where the next page starts
        (None at the segment's end)."""
        ...


@dataclass
class SegmentProgress:
    start: dict[str, Any] | None = None
    done: bool = False
    checked: int = 0
    mismatched: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "done": self.done,
            "checked": self.checked,
            "mismatched": self.mismatched,
        }


@dataclass
class SweepReport:
    run_id: str
    segments: int
    progress: list[SegmentProgress] = field(default_factory=list)
    checked_now: int = 0
    failures: list[Verification] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(p.done for p in self.progress)

    @property
    def checked(self) -> int:
        return sum(p.checked for p in self.progress)

    @property
    def mismatched(self) -> int:
        return sum(p.mismatched for p in self.progress)


@dataclass(frozen=True)
class Sweep:
    store: LedgerStore
    scanner: SegmentScanner
    checkpoints: Checkpoints
    segments: int
    workers: int
    # Seconds left, and what one more page may take: no page starts that could not finish.
    time_left: Callable[[], float]
    per_page: float
    anchors: AnchorStore | None = None  # with them, each chain is checked against its anchor

    def run(self, run_id: str, owned: range | None = None) -> SweepReport:
        """Take the run's segments (`owned`, or all of them) as far as the time allows."""
        report = SweepReport(run_id, self.segments)
        segments = owned if owned is not None else range(self.segments)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            outcomes = list(pool.map(lambda s: self._segment(run_id, s), segments))
        for progress, checked_now, failures in outcomes:
            report.progress.append(progress)
            report.checked_now += checked_now
            report.failures += failures
        return report

    def _segment(
        self, run_id: str, segment: int
    ) -> tuple[SegmentProgress, int, list[Verification]]:
        name = f"sweep#{run_id}#{segment:04d}"
        progress = SegmentProgress(**(self.checkpoints.load(name) or {}))
        checked_now, failures = 0, []
        while not progress.done and self.time_left() > self.per_page:
            ids, following = self.scanner.page(segment, self.segments, progress.start, PAGE)
            results = [
                verify_transaction(self.store, transaction_id, self.anchors)
                for transaction_id in ids
            ]
            page_failures = [result for result in results if not result.ok]
            failures += page_failures
            checked_now += len(results)
            progress = SegmentProgress(
                following,
                following is None,
                progress.checked + len(results),
                progress.mismatched + len(page_failures),
            )
            self.checkpoints.save(name, progress.as_dict())
        return progress, checked_now, failures
