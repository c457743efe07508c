"""How the resolver answers what a route raised: every refusal in the error envelope of
`api/errors.py`, each code with its status, and a bug as 500 with the correlation id."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ResponseValidationError,
)

from refund_service.api.errors import HTTP_STATUS, ApiError, error_body
from refund_service.api.routing import answer
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.observability import logger


def validation_problems(error: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(part) for part in item.get("loc", ())],
            "msg": item.get("msg"),
            "type": item.get("type"),
        }
        for item in error.errors()
    ]


def invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    problems = validation_problems(error)
    if any(p["loc"][:2] == ["header", "idempotency-key"] for p in problems):
        return answer(
            400,
            error_body(
                ErrorCode.MISSING_IDEMPOTENCY_KEY,
                "The Idempotency-Key header (1 to 255 characters) is required.",
            ),
        )
    return answer(
        400,
        error_body(ErrorCode.VALIDATION_ERROR, "The request is not valid.", {"errors": problems}),
    )


def not_json(_: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
    return answer(
        415, error_body(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json.")
    )


def refused(error: DomainError) -> Response[dict[str, Any]]:
    return answer(HTTP_STATUS[error.code], error_body(error.code, error.message, error.details))


def answered(error: ApiError) -> Response[dict[str, Any]]:
    return answer(error.status_code, error.body)


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    app.exception_handler(RequestValidationError)(invalid_request)
    app.exception_handler(RequestUnsupportedContentType)(not_json)
    app.exception_handler(DomainError)(refused)
    app.exception_handler(ApiError)(answered)

    def internal_error(error: Exception) -> Response[dict[str, Any]]:
        correlation_id = app.context.get("correlation_id")
        logger.exception("unexpected error", extra={"error_type": type(error).__name__})
        return answer(
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

    def no_route(_: Exception) -> Response[dict[str, Any]]:
        return answer(
            404,
            error_body(ErrorCode.NOT_FOUND, "No such route.", {"path": app.current_event.path}),
        )

    app.not_found(no_route)
