"""The HTTP API (SPEC section 4) on Powertools' resolver: one router per resource, the error
handlers, the OpenAPI document, and the Lambda-facing wrapper that checks a request before the
resolver sees it (docs/decisions/0013)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from refund_service.api.chargeback_routes import chargeback_router
from refund_service.api.error_handlers import register_error_handlers
from refund_service.api.openapi_document import openapi_json
from refund_service.api.refund_routes import refund_router
from refund_service.api.request_guard import authorize_resolved_route, check_request, strict_loads
from refund_service.api.routing import JSON
from refund_service.api.runtime import ApiRuntime
from refund_service.api.search_routes import search_router
from refund_service.api.transaction_routes import transaction_router
from refund_service.observability import logger

ROUTERS = (refund_router, transaction_router, chargeback_router, search_router)


def describing_only() -> ApiRuntime:
    """The runtime of an app built only to describe itself: any route that runs fails."""
    raise RuntimeError("describing the API needs no runtime")


def build_app(get_runtime: Callable[[], ApiRuntime]) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=strict_loads)
    app.use([authorize_resolved_route])
    for router in ROUTERS:
        app.include_router(router(get_runtime))

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document() -> Response[Any]:
        return Response(200, JSON, openapi_json(app))

    register_error_handlers(app)
    return app


# --- the Lambda-facing wrapper: checks before routing, one log line per request -----------


_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def correlation_id_of(event: dict[str, Any]) -> str:
    """The caller's X-Correlation-Id when it is a plain token; else the gateway's request id."""
    offered = (event.get("headers") or {}).get("x-correlation-id") or ""
    if _CORRELATION_ID.match(offered):
        return offered
    return str(event.get("requestContext", {}).get("requestId") or uuid.uuid4())


def handle(app: APIGatewayHttpResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One request: checks, routing, and one log line with route, status and latency."""
    started = time.perf_counter()
    method = event.get("requestContext", {}).get("http", {}).get("method", "")
    path = event.get("rawPath", "")
    correlation_id = correlation_id_of(event)
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(correlation_id=correlation_id)
    checked = check_request(event)
    if isinstance(checked, dict):
        result = checked
    else:
        app.append_context(principal=checked, correlation_id=correlation_id)
        result = app.resolve(event, context)
    result.setdefault("headers", {})["X-Correlation-Id"] = correlation_id
    logger.info(
        "request handled",
        extra={
            "route": event.get("routeKey") or f"{method} {path}",
            "status": result.get("statusCode"),
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return result
