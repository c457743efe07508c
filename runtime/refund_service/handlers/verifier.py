"""Scheduled: recompute every transaction's summary from its entries and check audit chains,
each against the latest anchor that covers it.

Emits LedgerMismatch (alarmed above zero; an anchor disagreement counts too), AnchorMismatch
and LedgerVerified; logs the first mismatch.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from refund_service.adapters.dynamodb.ledger_store import DynamoDBLedgerStore
from refund_service.bootstrap import aws_client
from refund_service.handlers.anchor import anchor_store
from refund_service.observability import PowertoolsMetricsSink, logger, metrics, tracer
from refund_service.observability_names import ANCHOR_MISMATCH, LEDGER_MISMATCH, LEDGER_VERIFIED
from refund_service.service.anchoring import AnchorStore, CachedAnchors
from refund_service.service.ports import LedgerStore
from refund_service.service.queries import verify_all
from refund_service.settings import load_settings

ENVIRONMENT = (
    "LEDGER_TABLE_NAME",
    "AUDIT_TABLE_NAME",
    "ANCHOR_BUCKET_NAME",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
)


@cache
def store() -> LedgerStore:
    settings = load_settings()
    return DynamoDBLedgerStore(aws_client("dynamodb"), settings.ledger_table, settings.audit_table)


def anchors() -> AnchorStore | None:
    found = anchor_store(load_settings())
    return CachedAnchors(found) if found is not None else None


def run_once(
    ledger: LedgerStore, transaction_id: str | None = None, anchors: AnchorStore | None = None
) -> dict[str, Any]:
    """Verify one transaction (when the event names it) or all of them."""
    report = verify_all(ledger, [transaction_id] if transaction_id else None, anchors)
    unanchored = [f for f in report.failures if f.anchor is not None and not f.anchor.ok]
    sink = PowertoolsMetricsSink()
    sink.count(LEDGER_VERIFIED, report.checked)
    sink.count(LEDGER_MISMATCH, len(report.failures))
    sink.count(ANCHOR_MISMATCH, len(unanchored))
    result: dict[str, Any] = {
        "checked": report.checked,
        "mismatches": len(report.failures),
        "anchor_mismatches": len(unanchored),
    }
    first = report.first_failure
    if first is not None:
        result["first_mismatch"] = {
            "transaction_id": first.transaction_id,
            "field": first.mismatch.field if first.mismatch else None,
            "stored": str(first.mismatch.stored) if first.mismatch else None,
            "recomputed": str(first.mismatch.recomputed) if first.mismatch else None,
            "chain_valid": first.chain.valid,
            "chain_reason": first.chain.reason,
            "problems": list(first.problems),
            "anchor": first.anchor.reason if first.anchor else None,
            "anchor_id": first.anchor.anchor_id if first.anchor else None,
        }
        logger.error("ledger verification found a mismatch", extra=result)
    else:
        logger.info("ledger verified", extra=result)
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_once(store(), (event or {}).get("transaction_id"), anchors())
