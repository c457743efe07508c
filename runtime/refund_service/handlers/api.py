"""Lambda entry point of the HTTP API (every route but the webhooks)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.logging import correlation_paths

import refund_service.snapstart  # noqa: F401 - registers the SnapStart hooks, in Lambda only
from refund_service.api.app import build_app, handle
from refund_service.api.runtime import ApiRuntime
from refund_service.bootstrap import build_api_runtime
from refund_service.observability import logger, metrics, tracer
from refund_service.settings import ApiSettings

SETTINGS = ApiSettings


@cache
def runtime() -> ApiRuntime:
    return build_api_runtime(SETTINGS.from_environ())


app = build_app(runtime)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(app, event, context)
