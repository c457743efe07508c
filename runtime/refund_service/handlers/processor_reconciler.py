"""Scheduled: compare what the processor paid with the ledger (SPEC section 3.1).

Each run looks at the refunds the processor created in a window that ends where the pending
reconciler begins (RECONCILE_AFTER_MINUTES ago), so a refund still on its way is left to the
request that sent it. Windows overlap from run to run: a payout booked once agrees afterwards.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from refund_service.bootstrap import ProcessorReconcilerRuntime, build_processor_reconciler
from refund_service.observability import logger, metrics, tracer
from refund_service.service.context import timestamp
from refund_service.service.processor_reconciliation import reconcile_processor
from refund_service.settings import ProcessorReconcilerSettings

SETTINGS = ProcessorReconcilerSettings


@cache
def runtime() -> ProcessorReconcilerRuntime:
    return build_processor_reconciler(SETTINGS.from_environ())


def run_once(run: ProcessorReconcilerRuntime) -> dict[str, Any]:
    svc, config = run.services, run.settings
    until = svc.clock() - timedelta(minutes=config.reconcile_after_minutes)
    since = until - timedelta(hours=config.processor_reconcile_window_hours)
    report = reconcile_processor(svc, since, until)
    window = {"processor": svc.processor.name, "since": timestamp(since), "until": timestamp(until)}
    if not report.supported:
        logger.info("the processor cannot list its refunds: nothing to compare", extra=window)
        return report.as_dict()
    logger.info(
        "processor reconciliation finished",
        extra={
            **window,
            "listed": report.listed,
            "agreed": report.agreed,
            "booked": len(report.booked),
            "booked_refund_ids": report.booked,  # a late success may have over-refunded
            "mismatches": len(report.mismatches),
        },
    )
    for mismatch in report.mismatches:
        logger.warning(
            "processor and ledger disagree",
            extra={
                "refund_id": mismatch.refund_id,
                "processor_reference": mismatch.processor_reference,
                "problem": mismatch.problem,
            },
        )
    return report.as_dict()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_once(runtime())
