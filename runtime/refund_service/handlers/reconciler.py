"""Scheduled: settle refunds pending too long by asking the processor (SPEC section 1, step 8)."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from refund_service.bootstrap import build_services
from refund_service.observability import PowertoolsMetricsSink, logger, metrics, tracer
from refund_service.service.context import Services
from refund_service.service.reconciler import reconcile
from refund_service.settings import Settings, load_settings

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


def run_once(svc: Services, config: Settings) -> dict[str, Any]:
    report = reconcile(
        svc,
        older_than=timedelta(minutes=config.reconcile_after_minutes),
        stale_after=timedelta(hours=config.stale_pending_hours),
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
    return run_once(services(), settings())
