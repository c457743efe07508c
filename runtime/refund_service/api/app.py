"""The HTTP API (SPEC section 4) on Powertools' resolver: routes, validation, error mapping."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from refund_service.api import search_routes, views
from refund_service.api.auth import Principal
from refund_service.api.errors import HTTP_STATUS, ApiError, error_body
from refund_service.api.models import (
    AuditResponse,
    ChargebackRequest,
    ChargebackResponse,
    ErrorResponse,
    LedgerPageResponse,
    LedgerResponse,
    PaymentRequest,
    RefundCreated,
    RefundRequest,
    RefundResponse,
    ResolveChargebackRequest,
    RollbackRequest,
)
from refund_service.api.request_guard import (
    authorize_resolved_route,
    check_request,
    strict_loads,
)
from refund_service.api.runtime import ApiRuntime
from refund_service.domain.chargeback import DisputeOutcome
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.ledger import PaymentStatus
from refund_service.observability import logger
from refund_service.service import payments, queries
from refund_service.service.settlement import rollback_refund

TITLE = "Refund service API"
VERSION = "1.0.0"
JSON = "application/json"
SECURITY_SCHEME = "bearerAuth"

TransactionId = Annotated[str, Path(min_length=1, max_length=128)]
RefundId = Annotated[str, Path(min_length=1, max_length=160)]
ChargebackIdPath = Annotated[str, Path(min_length=1, max_length=128)]
PageLimit = Annotated[
    int,
    Query(
        ge=1,
        le=queries.MAX_PAGE_LIMIT,
        description=f"Items per page, 1 to {queries.MAX_PAGE_LIMIT}",
    ),
]
PageCursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=512,
        description="`next_cursor` of the previous page; absent for the first page",
    ),
]


def _error(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {JSON: {"model": ErrorResponse}}}


COMMON_ERRORS: dict[int, OpenAPIResponse] = {
    400: _error("VALIDATION_ERROR"),
    401: _error("UNAUTHORIZED: no or bad token"),
    403: _error("FORBIDDEN: the token lacks the route's scope"),
    500: _error("INTERNAL_ERROR, with a correlation id"),
}
# Routes that take a body can also refuse its media type.
BODY_ERRORS: dict[int, OpenAPIResponse] = {
    **COMMON_ERRORS,
    415: _error("UNSUPPORTED_MEDIA_TYPE: the body is not application/json"),
}


def _ok(model: type[Any], description: str) -> OpenAPIResponse:
    return {"description": description, "content": {JSON: {"model": model}}}


def _json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(status_code=status, content_type=JSON, body=body, headers=headers or {})


def build_app(get_runtime: Callable[[], ApiRuntime]) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=strict_loads)
    app.use([authorize_resolved_route])

    def caller() -> Any:
        event = app.current_event
        principal: Principal = app.context["principal"]
        return get_runtime().caller(
            principal, event.request_context.http.source_ip, app.context.get("correlation_id")
        )

    @app.post(
        "/refunds",
        summary="Create a refund",
        responses={
            200: _ok(RefundCreated, "The processor approved the refund"),
            202: _ok(RefundCreated, "Submitted; the outcome is pending"),
            404: _error("TRANSACTION_NOT_FOUND"),
            409: _error(
                "TRANSACTION_PENDING, TRANSACTION_NOT_REFUNDABLE, "
                "CHARGEBACK_CONFLICT, ALREADY_REFUNDED, "
                "IDEMPOTENCY_IN_PROGRESS",
            ),
            422: _error(
                "REFUND_WINDOW_EXPIRED, AMOUNT_EXCEEDS_REFUNDABLE, "
                "CURRENCY_MISMATCH, IDEMPOTENCY_KEY_REUSED, "
                "PROCESSOR_DECLINED",
            ),
            503: _error("PROCESSOR_UNAVAILABLE: nothing was refunded; retry"),
            **BODY_ERRORS,
        },
        security=[{SECURITY_SCHEME: ["refunds:write"]}],
        tags=["refunds"],
    )
    def create_refund(
        body: Annotated[RefundRequest, Body()],
        idempotency_key: Annotated[
            str, Header(alias="idempotency-key", min_length=1, max_length=255)
        ],
    ) -> Response[Any]:  # its refusals are answers too
        logger.thread_safe_append_keys(transaction_id=body.transaction_id)
        status, answer, replayed = get_runtime().refunds.create(
            caller(),
            idempotency_key,
            body.model_dump(exclude_none=True),
            app.lambda_context,
        )
        if answer.get("refund_transaction_id"):
            logger.thread_safe_append_keys(refund_id=answer["refund_transaction_id"])
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return _json(status, answer, headers)

    @app.get(
        "/refunds/<refund_id>",
        summary="One refund with its status and entries",
        responses={
            200: _ok(RefundResponse, "The refund"),
            404: _error("REFUND_NOT_FOUND"),
            **COMMON_ERRORS,
        },
        security=[{SECURITY_SCHEME: ["refunds:read"]}],
        tags=["refunds"],
    )
    def get_refund(refund_id: RefundId) -> Response[RefundResponse]:
        logger.thread_safe_append_keys(refund_id=refund_id)
        view = queries.get_refund(get_runtime().services.store, refund_id)
        return _json(200, views.refund_detail_view(view))

    @app.post(
        "/refunds/<refund_id>/rollback",
        summary="Reverse a refund",
        responses={
            200: _ok(RefundResponse, "The refund, rolled back"),
            404: _error("REFUND_NOT_FOUND"),
            409: _error("REFUND_NOT_REVERSIBLE"),
            **BODY_ERRORS,
        },
        security=[{SECURITY_SCHEME: ["refunds:admin"]}],
        tags=["refunds"],
    )
    def rollback(
        refund_id: RefundId, body: Annotated[RollbackRequest, Body()]
    ) -> Response[RefundResponse]:
        logger.thread_safe_append_keys(refund_id=refund_id)
        services = get_runtime().services
        transaction_id = queries.locate_refund(services.store, refund_id)
        logger.thread_safe_append_keys(transaction_id=transaction_id)
        rollback_refund(services, transaction_id, refund_id, body.reason, caller())
        view = queries.get_refund(services.store, refund_id)
        return _json(200, views.refund_detail_view(view))

    @app.get(
        "/transactions/<transaction_id>/ledger",
        summary="Summary and entries, a page at a time",
        responses={
            200: _ok(LedgerPageResponse, "The ledger of one transaction: one page of entries"),
            404: _error("TRANSACTION_NOT_FOUND"),
            **COMMON_ERRORS,
        },
        security=[{SECURITY_SCHEME: ["refunds:read"]}],
        tags=["transactions"],
    )
    def get_ledger(
        transaction_id: TransactionId,
        limit: PageLimit = queries.DEFAULT_PAGE_LIMIT,
        cursor: PageCursor = None,
    ) -> Response[LedgerPageResponse]:
        logger.thread_safe_append_keys(transaction_id=transaction_id)
        store = get_runtime().services.store
        page = queries.get_ledger_page(store, transaction_id, limit, cursor)
        return _json(200, views.ledger_page_view(page))

    @app.get(
        "/transactions/<transaction_id>/audit",
        summary="Audit trail, a page at a time; the whole chain verified",
        responses={
            200: _ok(AuditResponse, "One page of the audit trail"),
            404: _error("TRANSACTION_NOT_FOUND"),
            **COMMON_ERRORS,
        },
        security=[{SECURITY_SCHEME: ["refunds:read"]}],
        tags=["transactions"],
    )
    def get_audit(
        transaction_id: TransactionId,
        limit: PageLimit = queries.DEFAULT_PAGE_LIMIT,
        cursor: PageCursor = None,
    ) -> Response[AuditResponse]:
        logger.thread_safe_append_keys(transaction_id=transaction_id)
        store = get_runtime().services.store
        view = queries.get_audit(store, transaction_id, limit, cursor)
        return _json(200, views.audit_view(view))

    @app.post(
        "/transactions",
        summary="Record a payment",
        responses={
            201: _ok(LedgerResponse, "Recorded (or the identical request again)"),
            409: _error("TRANSACTION_EXISTS"),
            **BODY_ERRORS,
        },
        security=[{SECURITY_SCHEME: ["ledger:write"]}],
        tags=["transactions"],
    )
    def record_payment(body: Annotated[PaymentRequest, Body()]) -> Response[LedgerResponse]:
        logger.thread_safe_append_keys(transaction_id=body.transaction_id)
        command = payments.PaymentCommand(
            transaction_id=body.transaction_id,
            amount=body.amount,
            currency=body.currency,
            status=PaymentStatus(body.status),
            captured_at=body.captured_at,
            tax_amount=body.tax_amount,
            fee_amount=body.fee_amount,
            settlement_currency=body.settlement_currency,
            fx_rate=body.fx_rate,
            customer_reference=body.customer_reference,
            processor_reference=body.processor_reference,
        )
        state = payments.record_payment(get_runtime().services, command, caller())
        return _json(201, views.ledger_view(state))

    @app.post(
        "/transactions/<transaction_id>/complete",
        summary="A pending payment completes",
        responses={
            200: _ok(LedgerResponse, "The payment, completed"),
            404: _error("TRANSACTION_NOT_FOUND"),
            409: _error("TRANSACTION_NOT_REFUNDABLE"),
            **COMMON_ERRORS,
        },
        security=[{SECURITY_SCHEME: ["ledger:write"]}],
        tags=["transactions"],
    )
    def complete(transaction_id: TransactionId) -> Response[LedgerResponse]:
        logger.thread_safe_append_keys(transaction_id=transaction_id)
        state = payments.complete_payment(get_runtime().services, transaction_id, caller())
        return _json(200, views.ledger_view(state))

    @app.post(
        "/transactions/<transaction_id>/chargebacks",
        summary="Record a chargeback",
        description="Booked in full, up to the captured amount, whatever was refunded or is "
        "pending. The same chargeback_id again is a replay. While it stands nothing is "
        "refundable.",
        responses={
            201: _ok(ChargebackResponse, "The chargeback and the ledger with it"),
            404: _error("TRANSACTION_NOT_FOUND"),
            409: _error("TRANSACTION_PENDING, TRANSACTION_NOT_REFUNDABLE"),
            **BODY_ERRORS,
        },
        security=[{SECURITY_SCHEME: ["ledger:write"]}],
        tags=["transactions"],
    )
    def chargeback(
        transaction_id: TransactionId, body: Annotated[ChargebackRequest | None, Body()] = None
    ) -> Response[ChargebackResponse]:
        logger.thread_safe_append_keys(transaction_id=transaction_id)
        body = body or ChargebackRequest()
        command = payments.ChargebackCommand(
            transaction_id,
            body.amount,
            body.reason,
            body.processor_reference,
            body.chargeback_id,
        )
        outcome = payments.record_chargeback(get_runtime().services, command, caller())
        return _json(201, views.chargeback_view(outcome.chargeback, outcome.state))

    @app.post(
        "/transactions/<transaction_id>/chargebacks/<chargeback_id>/resolve",
        summary="A dispute is won or lost",
        description="won books CHARGEBACK_REVERSAL and makes refundable again what was "
        "refundable before the chargeback; lost books nothing more.",
        responses={
            200: _ok(ChargebackResponse, "The resolved chargeback and the ledger"),
            404: _error("TRANSACTION_NOT_FOUND, CHARGEBACK_NOT_FOUND"),
            409: _error("CHARGEBACK_ALREADY_RESOLVED"),
            **BODY_ERRORS,
        },
        security=[{SECURITY_SCHEME: ["ledger:write"]}],
        tags=["transactions"],
    )
    def resolve_chargeback(
        transaction_id: TransactionId,
        chargeback_id: ChargebackIdPath,
        body: Annotated[ResolveChargebackRequest, Body()],
    ) -> Response[ChargebackResponse]:
        logger.thread_safe_append_keys(transaction_id=transaction_id)
        outcome = payments.resolve_chargeback(
            get_runtime().services,
            transaction_id,
            chargeback_id,
            DisputeOutcome(body.outcome),
            caller(),
        )
        return _json(200, views.chargeback_view(outcome.chargeback, outcome.state))

    search_routes.register(app, get_runtime)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document() -> Response[Any]:
        return Response(200, JSON, openapi_json(app))

    _register_error_handlers(app)
    return app


def _register_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[Any]:
        problems = [
            {
                "loc": [str(part) for part in item.get("loc", ())],
                "msg": item.get("msg"),
                "type": item.get("type"),
            }
            for item in error.errors()
        ]
        if any(p["loc"][:2] == ["header", "idempotency-key"] for p in problems):
            return _json(
                400,
                error_body(
                    ErrorCode.MISSING_IDEMPOTENCY_KEY,
                    "The Idempotency-Key header (1 to 255 characters) is required.",
                ),
            )
        return _json(
            400,
            error_body(
                ErrorCode.VALIDATION_ERROR, "The request is not valid.", {"errors": problems}
            ),
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def not_json(_: RequestUnsupportedContentType) -> Response[Any]:
        return _json(
            415,
            error_body(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json."),
        )

    @app.exception_handler(DomainError)
    def refused(error: DomainError) -> Response[Any]:
        return _json(HTTP_STATUS[error.code], error_body(error.code, error.message, error.details))

    @app.exception_handler(ApiError)
    def answered(error: ApiError) -> Response[Any]:
        return _json(error.status_code, error.body)

    def internal_error(error: Exception) -> Response[Any]:
        correlation_id = app.context.get("correlation_id")
        logger.exception("unexpected error", extra={"error_type": type(error).__name__})
        return _json(
            500,
            error_body(
                ErrorCode.INTERNAL_ERROR,
                "An internal error occurred; quote the correlation id.",
                {"correlation_id": correlation_id},
                correlation_id=correlation_id,
            ),
        )

    # An answer that breaks its own documented shape is our bug, not the caller's.
    app.exception_handler(ResponseValidationError)(internal_error)
    app.exception_handler(Exception)(internal_error)

    @app.not_found
    def no_route(_: Exception) -> Response[Any]:
        return _json(
            404,
            error_body(ErrorCode.NOT_FOUND, "No such route.", {"path": app.current_event.path}),
        )


def openapi_json(app: APIGatewayHttpResolver) -> str:
    return app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description="Refunds for captured card payments: an append-only double-entry ledger, "
        "an audit trail, idempotent requests.",
        security_schemes={SECURITY_SCHEME: HTTPBearer(bearerFormat="JWT")},
    )


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
