"""Adyen refunds through the Checkout API (v71, JSON), normalized to `ProcessorResult`.

Adyen answers a refund request only with `status: "received"`: the request was accepted and
the outcome follows in a REFUND webhook. So `refund` returns PENDING with Adyen's pspReference,
and the webhook settles it. Adyen has no API to look a refund up; `lookup` therefore answers
PENDING for any refund we may have sent, and the reconciler leaves it for the webhook (see
docs/processors.md, "Adyen: settled by webhook").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from refund_service.adapters.processors.amounts import (
    ADYEN_EXPONENTS,
    UnrepresentableAmountError,
    to_processor_units,
)
from refund_service.adapters.processors.credentials import AdyenCredentials
from refund_service.adapters.processors.fields import text
from refund_service.adapters.processors.transport import (
    IDEMPOTENCY_HEADER,
    HttpResponse,
    HttpTransport,
    RetryPolicy,
    bounded_key,
)
from refund_service.domain.errors import UnknownCurrencyError
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRecord,
    ProcessorRefundRequest,
    ProcessorResult,
    ProcessorTimeoutError,
    normalized,
)

NAME = "adyen"
MAX_IDEMPOTENCY_KEY = 64  # Adyen's limit for Idempotency-Key
MAX_REFERENCE = 80  # Adyen's limit for `reference`; it carries our refund id to the webhook
AWAITING_WEBHOOK = "awaiting_webhook"

# Our reason -> Adyen's `merchantRefundReason`.
REASONS: Mapping[str, str] = {
    "requested_by_customer": "CUSTOMER REQUEST",
    "duplicate": "DUPLICATE",
    "fraudulent": "FRAUD",
    "other": "OTHER",
}


class NotSendableError(ValueError):
    """The request cannot be expressed to Adyen; nothing is sent."""


def refund_body(request: ProcessorRefundRequest, merchant_account: str) -> bytes:
    if not request.payment_reference:
        raise NotSendableError("Adyen needs the payment's pspReference as the payment reference")
    if len(request.refund_id) > MAX_REFERENCE:
        raise NotSendableError(f"refund id longer than Adyen's {MAX_REFERENCE}-character reference")
    try:
        value = to_processor_units(request.amount, request.currency, ADYEN_EXPONENTS)
    except (UnrepresentableAmountError, UnknownCurrencyError) as error:
        raise NotSendableError(str(error)) from None
    body: dict[str, Any] = {
        "amount": {"value": value, "currency": request.currency},
        "merchantAccount": merchant_account,
        "reference": request.refund_id,
    }
    if request.reason in REASONS:
        body["merchantRefundReason"] = REASONS[request.reason]
    return json.dumps(body, separators=(",", ":")).encode()


def result_of_received(answer: Mapping[str, Any]) -> ProcessorResult:
    """A 2xx answer: accepted for processing, outcome by webhook."""
    status = answer.get("status")
    return normalized(
        ProcessorCode.PENDING,
        NAME,
        reference=text(answer.get("pspReference")),
        processor_code=status if isinstance(status, str) else "no_status",
    )


def result_of_error(status: int, error: Mapping[str, Any]) -> ProcessorResult:
    """A final Adyen error answer (`errorCode`, `message`, `errorType`)."""
    if status in (401, 403):
        code = ProcessorCode.AUTHENTICATION_ERROR
    elif status == 429:
        code = ProcessorCode.RATE_LIMITED
    elif 400 <= status < 500:
        code = ProcessorCode.INVALID_REQUEST
    else:
        code = ProcessorCode.UNKNOWN
    return normalized(
        code,
        NAME,
        reference=text(error.get("pspReference")),
        processor_code=text(error.get("errorCode")) or f"http_{status}",
        processor_message=text(error.get("message")),
    )


def _document(response: HttpResponse) -> dict[str, Any]:
    document = response.json()
    return document if isinstance(document, dict) else {}


class AdyenProcessor:
    name = NAME

    def __init__(
        self,
        credentials: AdyenCredentials,
        *,
        policy: RetryPolicy | None = None,
        transport: HttpTransport | None = None,
    ):
        self._credentials = credentials
        self._transport = transport or HttpTransport(credentials.base_url, policy)

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        try:
            body = refund_body(request, self._credentials.merchant_account)
        except NotSendableError as problem:
            return normalized(
                ProcessorCode.INVALID_REQUEST,
                NAME,
                processor_code="not_sent",
                processor_message=str(problem),
            )
        path = f"/payments/{quote(str(request.payment_reference), safe='')}/refunds"
        headers = {
            "X-API-Key": self._credentials.api_key,
            IDEMPOTENCY_HEADER: bounded_key(request.refund_id, MAX_IDEMPOTENCY_KEY),
            "Content-Type": "application/json",
        }
        response = self._transport.request(
            "POST", path, headers=headers, body=body, send_by=request.send_by
        )
        if response.ok:
            answer = response.json()
            if not isinstance(answer, dict):
                raise ProcessorTimeoutError(
                    "Adyen accepted the request but its answer is unreadable"
                )
            return result_of_received(answer)
        return result_of_error(response.status, _document(response))

    def refunds_between(
        self, since: datetime, until: datetime
    ) -> Iterable[ProcessorRefundRecord] | None:
        """None: Adyen has no refund list. Its REFUND webhooks settle every refund (and a missing
        one turns the refund stale); matching the settlement report is later work."""
        return None

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        """PENDING: only the REFUND webhook tells the outcome. None for a refund that
        `refund` would never have sent."""
        try:
            refund_body(request, self._credentials.merchant_account)
        except NotSendableError:
            return None
        return normalized(
            ProcessorCode.PENDING,
            NAME,
            processor_code=AWAITING_WEBHOOK,
            processor_message="Adyen has no refund lookup; the webhook settles it",
        )
