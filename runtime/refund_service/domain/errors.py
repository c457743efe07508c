"""Domain errors. Each refusal carries the error code of SPEC section 4."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    MISSING_IDEMPOTENCY_KEY = "MISSING_IDEMPOTENCY_KEY"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    TRANSACTION_NOT_FOUND = "TRANSACTION_NOT_FOUND"
    REFUND_NOT_FOUND = "REFUND_NOT_FOUND"
    TRANSACTION_PENDING = "TRANSACTION_PENDING"
    TRANSACTION_NOT_REFUNDABLE = "TRANSACTION_NOT_REFUNDABLE"
    CHARGEBACK_CONFLICT = "CHARGEBACK_CONFLICT"
    ALREADY_REFUNDED = "ALREADY_REFUNDED"
    IDEMPOTENCY_IN_PROGRESS = "IDEMPOTENCY_IN_PROGRESS"
    REFUND_WINDOW_EXPIRED = "REFUND_WINDOW_EXPIRED"
    AMOUNT_EXCEEDS_REFUNDABLE = "AMOUNT_EXCEEDS_REFUNDABLE"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    TRANSACTION_EXISTS = "TRANSACTION_EXISTS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    PROCESSOR_DECLINED = "PROCESSOR_DECLINED"
    PROCESSOR_UNAVAILABLE = "PROCESSOR_UNAVAILABLE"
    CHARGEBACK_NOT_FOUND = "CHARGEBACK_NOT_FOUND"
    CHARGEBACK_ALREADY_RESOLVED = "CHARGEBACK_ALREADY_RESOLVED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # Beyond the catalog, for situations SPEC leaves open (docs/api.md lists them).
    REFUND_NOT_REVERSIBLE = "REFUND_NOT_REVERSIBLE"
    LEDGER_CONTENTION = "LEDGER_CONTENTION"
    REFUND_ROLLED_BACK = "REFUND_ROLLED_BACK"  # the key's refund succeeded, then was undone
    NOT_FOUND = "NOT_FOUND"  # no such route
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"  # a body that is not application/json


class DomainError(Exception):
    """A refusal with a catalog code, a human message and machine-readable details."""

    def __init__(self, code: ErrorCode, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}


class UnknownCurrencyError(DomainError):
    def __init__(self, currency: object):
        super().__init__(
            ErrorCode.VALIDATION_ERROR,
            f"Unknown currency code {currency!r}; expected an ISO 4217 alphabetic code.",
            {"field": "currency"},
        )


class UnbalancedJournalError(ValueError):
    """A journal whose debits and credits differ in some currency: a programming error."""
