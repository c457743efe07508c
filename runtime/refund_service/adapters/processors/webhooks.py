"""Processor webhooks: verify the signature, then classify each event in our own terms.

- Stripe signs the raw body: header `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`, where v1 is
  HMAC-SHA256 over `<t>.<body>` with the endpoint secret. We accept a v1 from any configured
  secret (rotation) and a timestamp within five minutes of our clock.
- Adyen signs each notification item: base64 HMAC-SHA256, keyed with the hex-decoded HMAC key,
  over `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:
  eventCode:success`, absent values as empty strings. Values are joined as they are: unlike the
  old hosted-payment-page signature, webhook signing escapes nothing (Adyen's own library and its
  test vectors with `:` and `\\` in merchantReference confirm it).

Events are classified by their type first, then by their fields (docs/processors.md). The event
id is stable across redeliveries, so the service can drop replays.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from refund_service.adapters.processors import stripe as stripe_api
from refund_service.adapters.processors.amounts import (
    ADYEN_EXPONENTS,
    UnrepresentableAmountError,
    from_processor_units,
)
from refund_service.domain.errors import UnknownCurrencyError
from refund_service.domain.ids import parse_refund_id
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorResult,
    ProcessorStatus,
    WebhookEvent,
    WebhookEventKind,
    normalized,
)

STRIPE_TOLERANCE_SECONDS = 300
STRIPE_REFUND_EVENTS = frozenset(
    {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)
STRIPE_CHARGEBACK_EVENTS = frozenset({"charge.dispute.created"})

ADYEN_SIGNED_FIELDS = (
    "pspReference",
    "originalReference",
    "merchantAccountCode",
    "merchantReference",
    "value",
    "currency",
    "eventCode",
    "success",
)
# Any stage at which the payment is disputed or charged back blocks further refunds; the later
# stages of one dispute share its pspReference (`dispute_reference`), so recording is idempotent.
ADYEN_CHARGEBACK_EVENTS = frozenset(
    {"NOTIFICATION_OF_CHARGEBACK", "CHARGEBACK", "SECOND_CHARGEBACK", "PREARBITRATION_LOST"}
)

_REFUND_KINDS = {
    ProcessorStatus.SUCCEEDED: WebhookEventKind.REFUND_SUCCEEDED,
    ProcessorStatus.FAILED: WebhookEventKind.REFUND_FAILED,
    ProcessorStatus.PENDING: WebhookEventKind.IGNORED,
}


class WebhookSignatureError(Exception):
    """Missing, malformed, expired or wrong signature: reject the request (HTTP 401)."""


class WebhookPayloadError(ValueError):
    """Correctly signed but not a notification we can read (HTTP 400)."""


class WebhookParser(Protocol):
    @property
    def name(self) -> str: ...

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        """Verified, classified events; raises WebhookSignatureError or WebhookPayloadError."""
        ...


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise WebhookPayloadError("body is not JSON") from None
    if not isinstance(document, dict):
        raise WebhookPayloadError("body is not a JSON object")
    return document


def _field(obj: Mapping[str, Any], key: str) -> Any:
    if key not in obj:
        raise WebhookPayloadError(f"notification lacks {key!r}")
    return obj[key]


def _object(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = _field(obj, key)
    if not isinstance(value, dict):
        raise WebhookPayloadError(f"{key!r} is not an object")
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _transaction_of(refund_id: str | None) -> str | None:
    parsed = parse_refund_id(refund_id) if refund_id else None
    return parsed[0] if parsed else None


# --- Stripe ------------------------------------------------------------------------------------


def stripe_signature(secret: str, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _stripe_header_parts(signature_header: str) -> tuple[str, list[str]]:
    timestamp, signatures = "", []
    for element in signature_header.split(","):
        key, _, value = element.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if not (timestamp.isascii() and timestamp.isdigit()) or not signatures:
        raise WebhookSignatureError("Stripe-Signature has no timestamp or no v1 signature")
    return timestamp, signatures


def verify_stripe_signature(
    body: bytes,
    signature_header: str | None,
    secrets: Sequence[str],
    now: float,
    tolerance: int = STRIPE_TOLERANCE_SECONDS,
) -> None:
    if not signature_header:
        raise WebhookSignatureError("missing Stripe-Signature header")
    timestamp, signatures = _stripe_header_parts(signature_header)
    expected = [stripe_signature(secret, timestamp, body).encode() for secret in secrets]
    if not any(hmac.compare_digest(e, s.encode()) for e in expected for s in signatures):
        raise WebhookSignatureError("no Stripe signature matches the body")
    if abs(now - int(timestamp)) > tolerance:
        raise WebhookSignatureError("Stripe signature timestamp outside the tolerance")


def _stripe_refund_event(
    event_id: str, event_type: str, refund: Mapping[str, Any], previous: Mapping[str, Any]
) -> WebhookEvent:
    if event_type == "refund.failed":
        result = stripe_api.result_of_failure(refund)
    else:
        result = stripe_api.result_of_refund(refund)
    kind = _REFUND_KINDS[result.status]
    late = kind is WebhookEventKind.REFUND_FAILED and previous.get("status") == "succeeded"
    metadata = _mapping(refund.get("metadata"))
    refund_id = _text(metadata.get("refund_id"))
    amount, currency = _stripe_amount(refund)
    return WebhookEvent(
        processor=stripe_api.NAME,
        event_id=event_id,
        kind=kind,
        event_type=event_type,
        refund_id=refund_id,
        transaction_id=_text(metadata.get("transaction_id")) or _transaction_of(refund_id),
        amount=amount,
        currency=currency,
        result=result,
        reason="failed after succeeded" if late else result.processor_code,
        payment_reference=_text(refund.get("payment_intent")) or _text(refund.get("charge")),
    )


def _stripe_dispute_event(
    event_id: str, event_type: str, dispute: Mapping[str, Any]
) -> WebhookEvent:
    metadata = _mapping(dispute.get("metadata"))
    amount, currency = _stripe_amount(dispute)
    return WebhookEvent(
        processor=stripe_api.NAME,
        event_id=event_id,
        kind=WebhookEventKind.CHARGEBACK,
        event_type=event_type,
        transaction_id=_text(metadata.get("transaction_id")),
        amount=amount,
        currency=currency,
        reason=_text(dispute.get("reason")),
        payment_reference=_text(dispute.get("payment_intent")) or _text(dispute.get("charge")),
        dispute_reference=_text(dispute.get("id")),
    )


def _stripe_amount(obj: Mapping[str, Any]) -> tuple[int | None, str | None]:
    try:
        return stripe_api.amount_from_stripe(obj)
    except (UnrepresentableAmountError, UnknownCurrencyError) as error:
        raise WebhookPayloadError(f"unreadable amount: {error}") from None


def classify_stripe_event(event: Mapping[str, Any]) -> WebhookEvent:
    """By event type first: refund events by the refund's status, disputes as chargebacks."""
    event_id = _text(_field(event, "id"))
    event_type = _text(_field(event, "type"))
    if event_id is None or event_type is None:
        raise WebhookPayloadError("event id and type must be strings")
    if event_type not in STRIPE_REFUND_EVENTS | STRIPE_CHARGEBACK_EVENTS:
        return WebhookEvent(
            processor=stripe_api.NAME,
            event_id=event_id,
            kind=WebhookEventKind.IGNORED,
            event_type=event_type,
        )
    data = _object(event, "data")
    obj = _object(data, "object")
    if event_type in STRIPE_CHARGEBACK_EVENTS:
        return _stripe_dispute_event(event_id, event_type, obj)
    previous = _mapping(data.get("previous_attributes"))
    return _stripe_refund_event(event_id, event_type, obj, previous)


class StripeWebhooks:
    name = stripe_api.NAME

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        tolerance: int = STRIPE_TOLERANCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        if not secrets or not all(secrets):
            raise ValueError("at least one Stripe webhook signing secret is needed")
        self._secrets = tuple(secrets)
        self._tolerance = tolerance
        self._clock = clock

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        verify_stripe_signature(
            body,
            header_value(headers, "Stripe-Signature"),
            self._secrets,
            self._clock(),
            self._tolerance,
        )
        return [classify_stripe_event(_json_object(body))]


# --- Adyen -------------------------------------------------------------------------------------

ADYEN = "adyen"


def _adyen_key(hex_key: str) -> bytes:
    try:
        return binascii.unhexlify(hex_key)
    except (binascii.Error, ValueError):
        raise ValueError("Adyen HMAC key must be hexadecimal") from None


def adyen_signing_string(item: Mapping[str, Any]) -> str:
    amount = _mapping(item.get("amount"))
    values = {**item, "value": amount.get("value"), "currency": amount.get("currency")}
    return ":".join("" if values.get(f) is None else str(values[f]) for f in ADYEN_SIGNED_FIELDS)


def adyen_signature(item: Mapping[str, Any], hex_key: str) -> str:
    digest = hmac.new(_adyen_key(hex_key), adyen_signing_string(item).encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def verify_adyen_item(item: Mapping[str, Any], hex_keys: Sequence[str]) -> None:
    additional = item.get("additionalData")
    given = additional.get("hmacSignature") if isinstance(additional, dict) else None
    if not isinstance(given, str) or not given:
        raise WebhookSignatureError("notification item has no hmacSignature")
    if not any(
        hmac.compare_digest(adyen_signature(item, key).encode(), given.encode()) for key in hex_keys
    ):
        raise WebhookSignatureError("no Adyen HMAC signature matches the notification item")


def _adyen_items(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    wrappers = _field(document, "notificationItems")
    if not isinstance(wrappers, list) or not wrappers:
        raise WebhookPayloadError("notificationItems must be a non-empty list")
    items = [w.get("NotificationRequestItem") if isinstance(w, dict) else None for w in wrappers]
    if not all(isinstance(item, dict) for item in items):
        raise WebhookPayloadError("each notification item needs a NotificationRequestItem")
    return [item for item in items if isinstance(item, dict)]


def _adyen_amount(item: Mapping[str, Any]) -> tuple[int | None, str | None]:
    amount = _mapping(item.get("amount"))
    value, currency = amount.get("value"), _text(amount.get("currency"))
    if currency is None or not isinstance(value, int):
        return None, currency
    try:
        return from_processor_units(value, currency, ADYEN_EXPONENTS), currency
    except (UnrepresentableAmountError, UnknownCurrencyError) as error:
        raise WebhookPayloadError(f"unreadable amount: {error}") from None


def _adyen_refund_result(
    item: Mapping[str, Any], event_code: str, success: bool
) -> ProcessorResult:
    # REFUND_FAILED and REFUNDED_REVERSED arrive with success "true" (the notification itself
    # succeeded): only a successful REFUND is an approval.
    approved = success and event_code == "REFUND"
    code = ProcessorCode.APPROVED if approved else ProcessorCode.DECLINED
    return normalized(
        code,
        ADYEN,
        reference=_text(item.get("pspReference")),
        processor_code=event_code,
        processor_message=_text(item.get("reason")),
    )


def _adyen_refund_kind(event_code: str, success: bool) -> WebhookEventKind | None:
    if event_code == "REFUND":
        return WebhookEventKind.REFUND_SUCCEEDED if success else WebhookEventKind.REFUND_FAILED
    if event_code == "REFUND_FAILED":  # rejected by the scheme after Adyen accepted it
        return WebhookEventKind.REFUND_FAILED
    if event_code == "REFUNDED_REVERSED":  # refunded amount returned to the merchant
        return WebhookEventKind.REFUND_REVERSED
    return None


def classify_adyen_item(item: Mapping[str, Any]) -> WebhookEvent:
    event_code = _text(_field(item, "eventCode"))
    psp_reference = _text(_field(item, "pspReference"))
    success = item.get("success")
    if event_code is None or psp_reference is None or success not in ("true", "false"):
        raise WebhookPayloadError("eventCode, pspReference and success ('true'/'false') needed")
    amount, currency = _adyen_amount(item)
    common: dict[str, Any] = {
        "processor": ADYEN,
        "event_id": f"{event_code}:{psp_reference}:{success}",
        "event_type": event_code,
        "amount": amount,
        "currency": currency,
        "payment_reference": _text(item.get("originalReference")),
    }
    refund_kind = _adyen_refund_kind(event_code, success == "true")
    if refund_kind is not None:
        refund_id = _text(item.get("merchantReference"))
        return WebhookEvent(
            kind=refund_kind,
            refund_id=refund_id,
            transaction_id=_transaction_of(refund_id),
            result=_adyen_refund_result(item, event_code, success == "true"),
            reason=_text(item.get("reason")),
            **common,
        )
    if event_code in ADYEN_CHARGEBACK_EVENTS:
        return WebhookEvent(
            kind=WebhookEventKind.CHARGEBACK,
            reason=_text(item.get("reason")),
            dispute_reference=psp_reference,
            **common,
        )
    return WebhookEvent(kind=WebhookEventKind.IGNORED, **common)


class AdyenWebhooks:
    name = ADYEN

    def __init__(self, hmac_keys: Sequence[str]):
        if not hmac_keys:
            raise ValueError("at least one Adyen HMAC key is needed")
        for key in hmac_keys:
            _adyen_key(key)
        self._keys = tuple(hmac_keys)

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        """Every item must carry a valid signature, or the whole request is rejected."""
        items = _adyen_items(_json_object(body))
        for item in items:
            verify_adyen_item(item, self._keys)
        return [classify_adyen_item(item) for item in items]
