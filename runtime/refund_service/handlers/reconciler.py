"""Scheduled: settle refunds pending too long by asking the processor (SPEC section 1, step 8).

Each run holds a lease, so runs never overlap; works within its remaining time
(`get_remaining_time_in_millis`), never starting a refund it could not finish; and keeps a
cursor, so new refunds come first and the backlog is walked in turn (service/reconciler.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from typing import Any

from refund_service.bootstrap import ReconcilerRuntime, build_reconciler
from refund_service.observability import logger, metrics, tracer
from refund_service.service.reconciler import Budget, reconcile_in_turn
from refund_service.settings import ReconcilerSettings

# The function's timeout (stacks/constructs/functions.py), and a little more: a run that died
# without releasing its lease holds it no longer than it could have run.
LEASE_SECONDS = 4 * 60 + 15
# What one refund may take at worst: a processor lookup can take 20 s, plus the ledger write.
PER_REFUND_SECONDS = 25.0
LOCAL_RUN_SECONDS = 4 * 60

SETTINGS = ReconcilerSettings


@cache
def runtime() -> ReconcilerRuntime:
    return build_reconciler(SETTINGS.from_environ())


def _time_left_locally() -> Callable[[], float]:
    ends = time.monotonic() + LOCAL_RUN_SECONDS
    return lambda: ends - time.monotonic()


def run_once(
    run: ReconcilerRuntime, time_left: Callable[[], float] | None = None
) -> dict[str, Any]:
    owner = uuid.uuid4().hex
    if not run.lease.acquire(owner, LEASE_SECONDS):
        logger.warning("the previous reconciler run still holds the lease; nothing done")
        return {"skipped": True}
    try:
        return _reconcile(run, time_left or _time_left_locally())
    finally:
        run.lease.release(owner)


def _reconcile(run: ReconcilerRuntime, time_left: Callable[[], float]) -> dict[str, Any]:
    config = run.settings
    report = reconcile_in_turn(
        run.services,
        run.window,
        run.checkpoints,
        older_than=timedelta(minutes=config.reconcile_after_minutes),
        stale_after=timedelta(hours=config.stale_pending_hours),
        budget=Budget(time_left, PER_REFUND_SECONDS),
    )
    summary = {
        "examined": report.examined,
        "succeeded": len(report.succeeded),
        "voided": len(report.voided),
        "still_pending": len(report.still_pending),
        "stale": len(report.stale),
        "oldest_age_seconds": round(report.oldest_age_seconds, 1),
    }
    logger.info("reconciliation finished", extra=summary)
    if report.stale:
        logger.warning("refunds pending too long", extra={"refund_ids": report.stale})
    return summary


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_once(runtime(), lambda: context.get_remaining_time_in_millis() / 1000)
