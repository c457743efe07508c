"""Lambda entry point of the HTTP API (every route but the webhooks)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.logging import correlation_paths

import refund_service.snapstart  # noqa: F401 - registers the SnapStart hooks, in Lambda only
from refund_service.api.app import build_app, handle
from refund_service.api.runtime import ApiRuntime, build_runtime
from refund_service.observability import logger, metrics, tracer

ENVIRONMENT = (
    "LEDGER_TABLE_NAME",
    "AUDIT_TABLE_NAME",
    "IDEMPOTENCY_TABLE_NAME",
    "AUDIT_KEY_ID",
    "REFUND_WINDOW_DAYS",
    "FEE_POLICY",
    "PROCESSOR",
    "CURRENCY_CONVERSION",
    "PROCESSOR_SECRET_ARN",
    "FX_RATES_TABLE_NAME",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
)


@cache
def runtime() -> ApiRuntime:
    return build_runtime()


app = build_app(runtime)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(app, event, context)
