"""Scheduled: the daily verification sweep, resumed until complete (service/verification.py).

Every run works on the current UTC day's sweep: the first run of the day starts it, later runs
resume it from its checkpoints until every segment is done, after which they only read the
checkpoints. The 64 segments are split into GROUPS groups, each scheduled on its own
(`{"group": k}`) so that groups run side by side on their own vCPU; a lease per group keeps
two runs of a group from overlapping; async retries are off (a failed run is the next run's to
resume). An event naming a `transaction_id` verifies just that one.

Emits LedgerVerified and LedgerMismatch (alarmed above zero); logs each mismatch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from refund_service.bootstrap import VerifierRuntime, build_verifier
from refund_service.observability import PowertoolsMetricsSink, logger, metrics, tracer
from refund_service.observability_names import ANCHOR_MISMATCH, LEDGER_MISMATCH, LEDGER_VERIFIED
from refund_service.service.anchoring import AnchorStore, CachedAnchors
from refund_service.service.ports import LedgerStore
from refund_service.service.queries import Verification, verify_all
from refund_service.service.verification import (
    SWEEP_GROUPS,
    SWEEP_SEGMENTS,
    Sweep,
    SweepReport,
)
from refund_service.settings import VerifierSettings

SETTINGS = VerifierSettings
SEGMENTS = SWEEP_SEGMENTS
GROUPS = SWEEP_GROUPS  # concurrent runs, one per group of SEGMENTS // GROUPS segments
WORKERS = SEGMENTS // GROUPS  # one thread per segment of the group
PER_PAGE_SECONDS = 60.0  # a page of 100 transactions, verified, with a wide margin
LEASE_SECONDS = 15 * 60 + 30  # the function's timeout, and a little more
LOCAL_RUN_SECONDS = 14 * 60


@cache
def runtime() -> VerifierRuntime:
    return build_verifier(SETTINGS.from_environ())


def _describe(failure: Verification) -> dict[str, Any]:
    return {
        **failure.described(),
        "anchor": failure.anchor.reason if failure.anchor else None,
        "anchor_id": failure.anchor.anchor_id if failure.anchor else None,
    }


def _emit(checked: int, failures: list[Verification]) -> None:
    """LedgerMismatch counts every failure, an anchor disagreement too; AnchorMismatch those."""
    sink = PowertoolsMetricsSink()
    sink.count(LEDGER_VERIFIED, checked)
    sink.count(LEDGER_MISMATCH, len(failures))
    sink.count(ANCHOR_MISMATCH, sum(1 for f in failures if f.anchor and not f.anchor.ok))
    for failure in failures:
        logger.error("ledger verification found a mismatch", extra=_describe(failure))


def verify_one(
    ledger: LedgerStore, transaction_id: str, anchored: AnchorStore | None = None
) -> dict[str, Any]:
    report = verify_all(ledger, [transaction_id], anchored)
    _emit(report.checked, report.failures)
    first = report.first_failure
    result: dict[str, Any] = {
        "checked": report.checked,
        "mismatches": len(report.failures),
        "anchor_mismatches": sum(1 for f in report.failures if f.anchor and not f.anchor.ok),
    }
    if first is not None:
        result["first_mismatch"] = _describe(first)
    return result


def owned_segments(group: int) -> range:
    if not 0 <= group < GROUPS:
        raise ValueError(f"group must be 0..{GROUPS - 1}, got {group}")
    size = SEGMENTS // GROUPS
    return range(group * size, (group + 1) * size)


def _cached(anchors: AnchorStore | None) -> AnchorStore | None:
    """The anchors read once per run, however many chains are checked against them."""
    return CachedAnchors(anchors) if anchors is not None else None


def sweep(
    run: VerifierRuntime,
    time_left: Callable[[], float],
    run_id: str,
    group: int = 0,
) -> dict[str, Any]:
    lease = run.lease(f"verification-sweep#{group}")
    owner = uuid.uuid4().hex
    if not lease.acquire(owner, LEASE_SECONDS):
        logger.warning("the previous sweep run still holds the lease; nothing done")
        return {"skipped": True}
    try:
        report = Sweep(
            run.store,
            run.scanner,
            run.checkpoints,
            SEGMENTS,
            WORKERS,
            time_left,
            PER_PAGE_SECONDS,
            _cached(run.anchors),
        ).run(run_id, owned_segments(group))
    finally:
        lease.release(owner)
    _emit(report.checked_now, report.failures)
    return _summary(report)


def _summary(report: SweepReport) -> dict[str, Any]:
    summary = {
        "run_id": report.run_id,
        "segments": len(report.progress),
        "complete": report.complete,
        "checked_this_run": report.checked_now,
        "checked": report.checked,
        "mismatches": report.mismatched,
        "segments_done": sum(p.done for p in report.progress),
    }
    logger.info("verification sweep run finished", extra=summary)
    return summary


def _local_time_left() -> Callable[[], float]:
    ends = time.monotonic() + LOCAL_RUN_SECONDS
    return lambda: ends - time.monotonic()


def run_once(
    run: VerifierRuntime,
    event: dict[str, Any] | None = None,
    time_left: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Verify one transaction (when the event names it), or take the day's sweep further
    for the event's group of segments."""
    event = event or {}
    if event.get("transaction_id"):
        return verify_one(run.store, str(event["transaction_id"]), _cached(run.anchors))
    today = datetime.now(UTC).date().isoformat()
    group = int(event.get("group", 0))
    return sweep(run, time_left or _local_time_left(), today, group)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_once(runtime(), event, lambda: context.get_remaining_time_in_millis() / 1000)
