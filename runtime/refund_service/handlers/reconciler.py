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

from refund_service.adapters.dynamodb.coordination import DynamoDBCheckpoints, DynamoDBLease
from refund_service.adapters.dynamodb.pending_window import DynamoDBPendingWindow
from refund_service.bootstrap import aws_client, build_services
from refund_service.observability import PowertoolsMetricsSink, logger, metrics, tracer
from refund_service.service.context import Services
from refund_service.service.reconciler import Budget, reconcile_in_turn
from refund_service.settings import Settings, load_settings

# The function's timeout (stacks/constructs/functions.py), and a little more: a run that died
# without releasing its lease holds it no longer than it could have run.
LEASE_SECONDS = 4 * 60 + 15
# What one refund may take at worst: a processor lookup can take 20 s, plus the ledger write.
PER_REFUND_SECONDS = 25.0
LOCAL_RUN_SECONDS = 4 * 60

ENVIRONMENT = (
    "LEDGER_TABLE_NAME",
    "AUDIT_TABLE_NAME",
    "IDEMPOTENCY_TABLE_NAME",
    "PROCESSOR",
    "PROCESSOR_SECRET_ARN",
    "RECONCILE_AFTER_MINUTES",
    "STALE_PENDING_HOURS",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
)


@cache
def settings() -> Settings:
    return load_settings()


@cache
def services() -> Services:
    return build_services(settings(), PowertoolsMetricsSink())


def _time_left_locally() -> Callable[[], float]:
    ends = time.monotonic() + LOCAL_RUN_SECONDS
    return lambda: ends - time.monotonic()


def run_once(
    svc: Services, config: Settings, time_left: Callable[[], float] | None = None
) -> dict[str, Any]:
    client = aws_client("dynamodb")
    lease = DynamoDBLease(client, config.idempotency_table, "reconciler")
    owner = uuid.uuid4().hex
    if not lease.acquire(owner, LEASE_SECONDS):
        logger.warning("the previous reconciler run still holds the lease; nothing done")
        return {"skipped": True}
    try:
        return _reconcile(svc, config, time_left or _time_left_locally())
    finally:
        lease.release(owner)


def _reconcile(svc: Services, config: Settings, time_left: Callable[[], float]) -> dict[str, Any]:
    client = aws_client("dynamodb")
    report = reconcile_in_turn(
        svc,
        DynamoDBPendingWindow(client, config.ledger_table),
        DynamoDBCheckpoints(client, config.idempotency_table),
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
    return run_once(services(), settings(), lambda: context.get_remaining_time_in_millis() / 1000)
