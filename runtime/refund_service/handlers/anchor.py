"""Scheduled hourly: anchor the audit chain heads that changed in each complete hour.

Writes one anchor per hour to the Object Lock bucket and counts the heads it committed to
(AnchoredHeads). A failed run raises: EventBridge retries it, then its dead-letter queue holds
it, and the next run anchors every hour missed, chained in order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from refund_service.adapters.anchor_stores import FolderAnchorStore, S3AnchorStore
from refund_service.adapters.dynamodb.ledger_store import DynamoDBLedgerStore
from refund_service.bootstrap import aws_client
from refund_service.observability import PowertoolsMetricsSink, logger, metrics, tracer
from refund_service.observability_names import ANCHORED_HEADS
from refund_service.service.anchoring import AnchorStore, run_anchoring
from refund_service.service.context import utc_now
from refund_service.settings import Settings, load_settings

ENVIRONMENT = (
    "LEDGER_TABLE_NAME",
    "ANCHOR_BUCKET_NAME",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
)


def anchor_store(settings: Settings) -> AnchorStore | None:
    """The bucket in AWS, the local folder when one is configured; None when neither is."""
    if settings.anchor_folder:
        return FolderAnchorStore(Path(settings.anchor_folder))
    if settings.anchor_bucket:
        return S3AnchorStore(aws_client("s3"), settings.anchor_bucket)
    return None


@cache
def collaborators() -> tuple[DynamoDBLedgerStore, AnchorStore]:
    settings = load_settings()
    anchors = anchor_store(settings)
    if anchors is None:
        raise RuntimeError("ANCHOR_BUCKET_NAME is not set: there is nowhere to anchor")
    ledger = DynamoDBLedgerStore(aws_client("dynamodb"), settings.ledger_table, "")
    return ledger, anchors


def run_once(
    ledger: DynamoDBLedgerStore,
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
    return run_once(*collaborators())
