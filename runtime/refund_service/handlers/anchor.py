"""Scheduled hourly: anchor the audit chain heads that changed in each complete hour.

Writes one anchor per hour to the Object Lock bucket and counts the heads it committed to
(AnchoredHeads). A failed run raises: EventBridge retries it, then its dead-letter queue holds
it, and the next run anchors every hour missed, chained in order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from refund_service.bootstrap import AnchorRuntime, build_anchor
from refund_service.observability import PowertoolsMetricsSink, logger, metrics, tracer
from refund_service.observability_names import ANCHORED_HEADS
from refund_service.service.anchoring import AnchorStore, ChangedHeads, run_anchoring
from refund_service.service.context import utc_now
from refund_service.settings import AnchorSettings

SETTINGS = AnchorSettings


@cache
def runtime() -> AnchorRuntime:
    return build_anchor(SETTINGS.from_environ())


def run_once(
    ledger: ChangedHeads,
    anchors: AnchorStore,
    clock: Callable[[], datetime] = utc_now,
) -> dict[str, Any]:
    run = run_anchoring(ledger, anchors, clock)
    PowertoolsMetricsSink().count(ANCHORED_HEADS, run.leaves)
    result = {"anchors": run.anchors, "heads": run.leaves}
    logger.info("audit chain heads anchored", extra=result)
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = runtime()
    return run_once(run.ledger, run.anchors)
