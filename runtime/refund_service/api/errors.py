"""The error catalog of SPEC section 4: one envelope, one HTTP status per code."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from refund_service.domain.errors import ErrorCode

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.MISSING_IDEMPOTENCY_KEY: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.TRANSACTION_NOT_FOUND: 404,
    ErrorCode.REFUND_NOT_FOUND: 404,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CHARGEBACK_NOT_FOUND: 404,
    ErrorCode.CHARGEBACK_ALREADY_RESOLVED: 409,
    ErrorCode.REFUND_ROLLED_BACK: 409,
    ErrorCode.TRANSACTION_PENDING: 409,
    ErrorCode.TRANSACTION_NOT_REFUNDABLE: 409,
    ErrorCode.CHARGEBACK_CONFLICT: 409,
    ErrorCode.ALREADY_REFUNDED: 409,
    ErrorCode.IDEMPOTENCY_IN_PROGRESS: 409,
    ErrorCode.TRANSACTION_EXISTS: 409,
    ErrorCode.REFUND_NOT_REVERSIBLE: 409,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.REFUND_WINDOW_EXPIRED: 422,
    ErrorCode.AMOUNT_EXCEEDS_REFUNDABLE: 422,
    ErrorCode.CURRENCY_MISMATCH: 422,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.PROCESSOR_DECLINED: 422,
    ErrorCode.PROCESSOR_UNAVAILABLE: 503,
    ErrorCode.LEDGER_CONTENTION: 503,
    ErrorCode.INTERNAL_ERROR: 500,
}

# Refusals that depend only on the request and the ledger: stored and replayed under the same
# idempotency key. Anything else (unavailable, contention, bugs, and a payment still pending,
# which the caller is told to retry later) lets a retry run again.
REPLAYABLE = frozenset(
    {
        ErrorCode.TRANSACTION_NOT_FOUND,
        ErrorCode.TRANSACTION_NOT_REFUNDABLE,
        ErrorCode.CHARGEBACK_CONFLICT,
        ErrorCode.ALREADY_REFUNDED,
        ErrorCode.REFUND_WINDOW_EXPIRED,
        ErrorCode.AMOUNT_EXCEEDS_REFUNDABLE,
        ErrorCode.CURRENCY_MISMATCH,
        ErrorCode.PROCESSOR_DECLINED,
        ErrorCode.VALIDATION_ERROR,
    }
)


def error_body(
    code: ErrorCode, message: str, details: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "message": message,
        "status": "failed",
        "error_code": code.value,
        "details": details or {},
        **extra,
    }


class ApiError(Exception):
    """An HTTP answer decided deep in a call, raised so it is neither stored nor replayed."""

    def __init__(self, status_code: int, body: dict[str, Any]):
        super().__init__(body.get("message", HTTPStatus(status_code).phrase))
        self.status_code = status_code
        self.body = body


def api_error(
    code: ErrorCode, message: str, details: dict[str, Any] | None = None, **extra: Any
) -> ApiError:
    return ApiError(HTTP_STATUS[code], error_body(code, message, details, **extra))
