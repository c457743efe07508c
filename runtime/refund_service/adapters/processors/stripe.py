"""Stripe refunds over plain HTTPS (API v1, form-encoded), normalized to `ProcessorResult`.

`refund` creates a refund with the refund id as `Idempotency-Key` and as `metadata[refund_id]`.
`lookup` lists the payment's refunds and finds ours by that metadata: it works even when the
create call's answer was lost, which a stored Stripe refund id could not. `refunds_between`
lists every refund created in a window, for processor reconciliation. The tables below are the
normalization documented in docs/processors.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from refund_service.adapters.processors.amounts import (
    STRIPE_EXPONENTS,
    UnrepresentableAmountError,
    from_processor_units,
    to_processor_units,
)
from refund_service.adapters.processors.credentials import StripeCredentials
from refund_service.adapters.processors.fields import mapping, text
from refund_service.adapters.processors.transport import (
    IDEMPOTENCY_HEADER,
    HttpResponse,
    HttpTransport,
    RetryPolicy,
    bounded_key,
    retry_on_status,
)
from refund_service.domain.errors import UnknownCurrencyError
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRecord,
    ProcessorRefundRequest,
    ProcessorResult,
    ProcessorTimeoutError,
    ProcessorUnavailableError,
    normalized,
)

NAME = "stripe"
MAX_IDEMPOTENCY_KEY = 255
LIST_PAGE_SIZE = 100
MAX_LIST_PAGES = 10
MAX_WINDOW_PAGES = 1000  # 100,000 refunds in one reconciliation window: far beyond need

# Our reason -> Stripe's `reason`; `other` has no Stripe equivalent and is omitted.
REASONS: Mapping[str, str] = {
    "requested_by_customer": "requested_by_customer",
    "duplicate": "duplicate",
    "fraudulent": "fraudulent",
}
# Refund `status` -> code, for every status API version 2026-10-28.endive documents. `failed` is
# resolved through FAILURE_REASONS. An unknown status keeps the refund pending (PENDING): the
# reconciler asks again rather than guessing it succeeded or failed.
STATUSES: Mapping[str, ProcessorCode] = {
    "succeeded": ProcessorCode.APPROVED,
    "pending": ProcessorCode.PENDING,
    "requires_action": ProcessorCode.PENDING,
    "canceled": ProcessorCode.DECLINED,
}
# Refund `failure_reason` -> code; an open set, anything else is UNKNOWN.
FAILURE_REASONS: Mapping[str, ProcessorCode] = {
    "lost_or_stolen_card": ProcessorCode.LOST_OR_STOLEN_CARD,
    "expired_or_canceled_card": ProcessorCode.EXPIRED_OR_CANCELED_CARD,
    "charge_for_pending_refund_disputed": ProcessorCode.DISPUTED,
    "insufficient_funds": ProcessorCode.INSUFFICIENT_FUNDS,
    "declined": ProcessorCode.DECLINED,
    "merchant_request": ProcessorCode.DECLINED,
    "unknown": ProcessorCode.UNKNOWN,
}
# Error `code` -> code, checked before the error type.
ERROR_CODES: Mapping[str, ProcessorCode] = {
    "charge_already_refunded": ProcessorCode.ALREADY_REFUNDED,
    "charge_disputed": ProcessorCode.DISPUTED,
}
_PAYMENT_PREFIXES = (("pi_", "payment_intent"), ("ch_", "charge"), ("py_", "charge"))


class NotSendableError(ValueError):
    """The request cannot be expressed to Stripe; nothing is sent."""


def should_retry(response: HttpResponse) -> bool:
    """Stripe's `Stripe-Should-Retry` header decides when present; 409 means the same key is
    still being processed, so waiting and asking again is right."""
    advice = response.headers.get("stripe-should-retry")
    if advice in ("true", "false"):
        return advice == "true"
    return response.status == 409 or retry_on_status(response)


def payment_target(payment_reference: str | None) -> tuple[str, str] | None:
    """('payment_intent', 'pi_...') or ('charge', 'ch_...'), from the payment reference."""
    for prefix, param in _PAYMENT_PREFIXES:
        if payment_reference and payment_reference.startswith(prefix):
            return param, payment_reference
    return None


def refund_form(request: ProcessorRefundRequest) -> bytes:
    target = payment_target(request.payment_reference)
    if target is None:
        raise NotSendableError(
            "Stripe needs a PaymentIntent (pi_...) or Charge (ch_..., py_...) id as the payment "
            f"reference, got {request.payment_reference!r}"
        )
    try:
        amount = to_processor_units(request.amount, request.currency, STRIPE_EXPONENTS)
    except (UnrepresentableAmountError, UnknownCurrencyError) as error:
        raise NotSendableError(str(error)) from None
    fields = [
        target,
        ("amount", str(amount)),
        ("metadata[refund_id]", request.refund_id),
        ("metadata[transaction_id]", request.transaction_id),
    ]
    if request.reason in REASONS:
        fields.append(("reason", REASONS[request.reason]))
    return urlencode(fields).encode()


def result_of_refund(refund: Mapping[str, Any]) -> ProcessorResult:
    """A Stripe refund object, normalized."""
    status = str(refund.get("status") or "")
    reference = text(refund.get("id"))
    if status == "failed":
        return result_of_failure(refund)
    code = STATUSES.get(status, ProcessorCode.PENDING)
    return normalized(
        code,
        NAME,
        reference=reference,
        processor_code=status or "no_status",
        processor_message=_pending_reason(refund) if code is ProcessorCode.PENDING else None,
    )


def _pending_reason(refund: Mapping[str, Any]) -> str | None:
    """Why Stripe holds the refund (`processing`, `insufficient_funds`: the balance cannot cover
    it, `charge_pending`), for the audit trail; an operator may have to act on the second."""
    reason = text(refund.get("pending_reason"))
    return f"refund pending: {reason}" if reason else None


def result_of_failure(refund: Mapping[str, Any]) -> ProcessorResult:
    reason = str(refund.get("failure_reason") or "unknown")
    return normalized(
        FAILURE_REASONS.get(reason, ProcessorCode.UNKNOWN),
        NAME,
        reference=text(refund.get("id")),
        processor_code=reason,
        processor_message=f"refund failed: {reason}",
    )


def result_of_error(status: int, error: Mapping[str, Any]) -> ProcessorResult:
    """A Stripe error answer that is final (the transport has done the retrying)."""
    vendor_code = text(error.get("code")) or text(error.get("type")) or f"http_{status}"
    return normalized(
        _error_code(status, error),
        NAME,
        processor_code=vendor_code,
        processor_message=text(error.get("message")),
    )


def _error_code(status: int, error: Mapping[str, Any]) -> ProcessorCode:
    if status in (401, 403):
        return ProcessorCode.AUTHENTICATION_ERROR
    if status == 429:
        return ProcessorCode.RATE_LIMITED
    code = ERROR_CODES.get(str(error.get("code")))
    if code is not None:
        return code
    if error.get("type") == "card_error":
        return ProcessorCode.DECLINED
    if 400 <= status < 500:
        return ProcessorCode.INVALID_REQUEST  # invalid_request_error, over-refund on `amount`
    return ProcessorCode.UNKNOWN


def amount_from_stripe(obj: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """(amount in ISO minor units, upper-case currency) of a refund or dispute object."""
    currency = text(obj.get("currency"))
    amount = obj.get("amount")
    if currency is None or not isinstance(amount, int):
        return None, currency.upper() if currency else None
    currency = currency.upper()
    return from_processor_units(amount, currency, STRIPE_EXPONENTS), currency


def record_of_refund(refund: Mapping[str, Any]) -> ProcessorRefundRecord:
    """A listed Stripe refund as a reconciliation record; our refund id is in its metadata."""
    reference, created = text(refund.get("id")), refund.get("created")
    try:
        amount, currency = amount_from_stripe(refund)
    except (UnrepresentableAmountError, UnknownCurrencyError) as error:
        raise ProcessorUnavailableError(f"Stripe refund {reference}: {error}") from None
    if reference is None or amount is None or currency is None or not isinstance(created, int):
        raise ProcessorUnavailableError(f"Stripe listed an unreadable refund ({reference})")
    return ProcessorRefundRecord(
        processor=NAME,
        processor_reference=reference,
        refund_id=text(mapping(refund.get("metadata")).get("refund_id")),
        amount=amount,
        currency=currency,
        status=result_of_refund(refund).status,
        created_at=datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        payment_reference=text(refund.get("payment_intent")) or text(refund.get("charge")),
    )


def _error_of(response: HttpResponse) -> dict[str, Any]:
    document = response.json()
    error: Any = document.get("error") if isinstance(document, dict) else None
    return error if isinstance(error, dict) else {}


class StripeProcessor:
    name = NAME

    def __init__(
        self,
        credentials: StripeCredentials,
        *,
        policy: RetryPolicy | None = None,
        transport: HttpTransport | None = None,
    ):
        self._credentials = credentials
        self._transport = transport or HttpTransport(
            credentials.base_url, policy, should_retry=should_retry
        )

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._credentials.api_key}",
            "Stripe-Version": self._credentials.api_version,
        }
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = bounded_key(idempotency_key, MAX_IDEMPOTENCY_KEY)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return headers

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        try:
            form = refund_form(request)
        except NotSendableError as problem:
            return normalized(
                ProcessorCode.INVALID_REQUEST,
                NAME,
                processor_code="not_sent",
                processor_message=str(problem),
            )
        response = self._transport.request(
            "POST",
            "/v1/refunds",
            headers=self._headers(request.refund_id),
            body=form,
            send_by=request.send_by,
        )
        if response.ok:
            return self._created(response)
        error = _error_of(response)
        if error.get("type") == "idempotency_error":
            return self._after_key_conflict(request, response.status, error)
        return result_of_error(response.status, error)

    @staticmethod
    def _created(response: HttpResponse) -> ProcessorResult:
        refund = response.json()
        if not isinstance(refund, dict) or refund.get("object") != "refund":
            raise ProcessorTimeoutError("Stripe accepted the request but its answer is unreadable")
        return result_of_refund(refund)

    def _after_key_conflict(
        self, request: ProcessorRefundRequest, status: int, error: Mapping[str, Any]
    ) -> ProcessorResult:
        """The key was used before with other parameters: what that first request did counts."""
        try:
            found = self.lookup(request)
        except ProcessorUnavailableError as failure:
            raise ProcessorTimeoutError(f"idempotency conflict, lookup failed: {failure}") from None
        return found if found is not None else result_of_error(status, error)

    def refunds_between(
        self, since: datetime, until: datetime
    ) -> Iterable[ProcessorRefundRecord] | None:
        """Every refund Stripe created in [since, until), newest first, all pages.

        Raises ProcessorUnavailableError when Stripe cannot be asked or a page is unreadable:
        a partial list would make refunds look missing.
        """
        window = [
            ("created[gte]", str(_unix_ceiling(since))),
            ("created[lt]", str(_unix_ceiling(until))),
        ]
        records: list[ProcessorRefundRecord] = []
        starting_after: str | None = None
        for _ in range(MAX_WINDOW_PAGES):
            page = self._list_page(window, starting_after)
            refunds = [r for r in page.get("data", []) if isinstance(r, dict)]
            records.extend(record_of_refund(refund) for refund in refunds)
            if not page.get("has_more") or not refunds:
                return records
            starting_after = str(refunds[-1].get("id"))
        raise ProcessorUnavailableError(f"more than {MAX_WINDOW_PAGES} pages of refunds; stopped")

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        """Our refund among the payment's refunds (by metadata.refund_id); None if absent.

        Raises ProcessorUnavailableError when Stripe cannot be asked right now.
        """
        target = payment_target(request.payment_reference)
        if target is None:
            return None  # refund() never sends such a request
        starting_after: str | None = None
        for _ in range(MAX_LIST_PAGES):
            page = self._list_page([target], starting_after)
            refunds = [r for r in page.get("data", []) if isinstance(r, dict)]
            for refund in refunds:
                metadata = refund.get("metadata")
                if isinstance(metadata, dict) and metadata.get("refund_id") == request.refund_id:
                    return result_of_refund(refund)
            if not page.get("has_more") or not refunds:
                return None
            starting_after = str(refunds[-1].get("id"))
        raise ProcessorUnavailableError(
            f"more than {MAX_LIST_PAGES * LIST_PAGE_SIZE} refunds on {target[1]}; search stopped"
        )

    def _list_page(
        self, selection: list[tuple[str, str]], starting_after: str | None
    ) -> dict[str, Any]:
        query = [*selection, ("limit", str(LIST_PAGE_SIZE))]
        if starting_after:
            query.append(("starting_after", starting_after))
        try:
            response = self._transport.request(
                "GET", "/v1/refunds?" + urlencode(query), headers=self._headers()
            )
        except ProcessorTimeoutError as failure:
            raise ProcessorUnavailableError(str(failure)) from None
        if response.status == 404:
            return {"data": [], "has_more": False}  # no such payment: no refund either
        page = response.json()
        if not response.ok or not isinstance(page, dict):
            error = _error_of(response)
            raise ProcessorUnavailableError(
                f"Stripe refund list failed: HTTP {response.status} {error.get('code') or ''}"
            )
        return page


def _unix_ceiling(moment: datetime) -> int:
    """Whole Unix seconds, rounded up: Stripe's `created` has no fractions, and rounding both
    ends the same way keeps windows that meet from listing a refund twice or never."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.ceil(moment.timestamp())
