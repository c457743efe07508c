"""Adyen webhooks: each notification item is signed and must belong to our merchant account.

The signature is base64 HMAC-SHA256, keyed with the hex-decoded HMAC key, over
`pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:
success`, absent values as empty strings. Values are joined as they are: unlike the old
hosted-payment-page signature, webhook signing escapes nothing (Adyen's own library and its test
vectors with `:` and `\\` in merchantReference confirm it). Because nothing is escaped, a signed
item whose fields contain `:` can be re-split into other field values under the same signature;
an item for another merchant account (`merchantAccountCode` not ours) is therefore never acted
on, whatever else it says.

Dispute stages map onto the dispute kinds. The stages of one dispute share Adyen's dispute
pspReference: the first round (NOTIFICATION_OF_CHARGEBACK, CHARGEBACK, CHARGEBACK_REVERSED) uses
it as `dispute_reference`; the second round (SECOND_CHARGEBACK after a won first round, then
PREARBITRATION_WON or PREARBITRATION_LOST) is a new booking, referenced as `<pspReference>-SECOND`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from refund_service.adapters.processors.amounts import (
    ADYEN_EXPONENTS,
    UnrepresentableAmountError,
    from_processor_units,
)
from refund_service.adapters.processors.fields import mapping, text
from refund_service.adapters.processors.webhooks import (
    Counter,
    WebhookPayloadError,
    WebhookSignatureError,
    field,
    json_object,
    transaction_of,
)
from refund_service.domain.errors import UnknownCurrencyError
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorResult,
    WebhookEvent,
    WebhookEventKind,
    normalized,
)

NAME = "adyen"
SIGNED_FIELDS = (
    "pspReference",
    "originalReference",
    "merchantAccountCode",
    "merchantReference",
    "value",
    "currency",
    "eventCode",
    "success",
)
FIRST_ROUND, SECOND_ROUND = "", "-SECOND"
# eventCode -> (kind, round). Every stage at which funds are taken back blocks refunds;
# NOTIFICATION_OF_CHARGEBACK only announces one (no funds move until CHARGEBACK) and is ignored.
DISPUTE_STAGES: Mapping[str, tuple[WebhookEventKind, str]] = {
    "CHARGEBACK": (WebhookEventKind.CHARGEBACK, FIRST_ROUND),
    "CHARGEBACK_REVERSED": (WebhookEventKind.CHARGEBACK_WON, FIRST_ROUND),
    "SECOND_CHARGEBACK": (WebhookEventKind.CHARGEBACK, SECOND_ROUND),
    "PREARBITRATION_WON": (WebhookEventKind.CHARGEBACK_WON, SECOND_ROUND),
    "PREARBITRATION_LOST": (WebhookEventKind.CHARGEBACK_LOST, SECOND_ROUND),
}
# Counted once per item refused for naming another merchant account.
FOREIGN_ITEMS_METRIC = "WebhookForeignItems"

_log = logging.getLogger(__name__)


def hmac_key(hex_key: str) -> bytes:
    try:
        return binascii.unhexlify(hex_key)
    except (binascii.Error, ValueError):
        raise ValueError("Adyen HMAC key must be hexadecimal") from None


def signing_string(item: Mapping[str, Any]) -> str:
    amount = mapping(item.get("amount"))
    values = {**item, "value": amount.get("value"), "currency": amount.get("currency")}
    return ":".join("" if values.get(f) is None else str(values[f]) for f in SIGNED_FIELDS)


def adyen_signature(item: Mapping[str, Any], hex_key: str) -> str:
    digest = hmac.new(hmac_key(hex_key), signing_string(item).encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def verify_item(item: Mapping[str, Any], hex_keys: Sequence[str]) -> None:
    given = mapping(item.get("additionalData")).get("hmacSignature")
    if not isinstance(given, str) or not given:
        raise WebhookSignatureError("notification item has no hmacSignature")
    if not any(
        hmac.compare_digest(adyen_signature(item, key).encode(), given.encode()) for key in hex_keys
    ):
        raise WebhookSignatureError("no Adyen HMAC signature matches the notification item")


def _ambiguous(item: Mapping[str, Any]) -> bool:
    """Whether a signed field holds ':', the separator the signature joins them with: such an
    item's signature also fits other splits of the same text, e.g. another account's item."""
    return signing_string(item).count(":") != len(SIGNED_FIELDS) - 1


def _items(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    wrappers = field(document, "notificationItems")
    if not isinstance(wrappers, list) or not wrappers:
        raise WebhookPayloadError("notificationItems must be a non-empty list")
    items = [w.get("NotificationRequestItem") if isinstance(w, dict) else None for w in wrappers]
    if not all(isinstance(item, dict) for item in items):
        raise WebhookPayloadError("each notification item needs a NotificationRequestItem")
    return [item for item in items if isinstance(item, dict)]


def _amount(item: Mapping[str, Any]) -> tuple[int | None, str | None]:
    amount = mapping(item.get("amount"))
    value, currency = amount.get("value"), text(amount.get("currency"))
    if currency is None or not isinstance(value, int):
        return None, currency
    try:
        return from_processor_units(value, currency, ADYEN_EXPONENTS), currency
    except (UnrepresentableAmountError, UnknownCurrencyError) as error:
        raise WebhookPayloadError(f"unreadable amount: {error}") from None


def _refund_result(item: Mapping[str, Any], event_code: str, success: bool) -> ProcessorResult:
    # REFUND_FAILED and REFUNDED_REVERSED arrive with success "true" (the notification itself
    # succeeded): only a successful REFUND is an approval.
    approved = success and event_code == "REFUND"
    code = ProcessorCode.APPROVED if approved else ProcessorCode.DECLINED
    return normalized(
        code,
        NAME,
        reference=text(item.get("pspReference")),
        processor_code=event_code,
        processor_message=text(item.get("reason")),
    )


def _refund_kind(event_code: str, success: bool) -> WebhookEventKind | None:
    if event_code == "REFUND":
        return WebhookEventKind.REFUND_SUCCEEDED if success else WebhookEventKind.REFUND_FAILED
    if event_code == "REFUND_FAILED":  # rejected by the scheme after Adyen accepted it
        return WebhookEventKind.REFUND_FAILED
    if event_code == "REFUNDED_REVERSED":  # refunded amount returned to the merchant
        return WebhookEventKind.REFUND_REVERSED
    return None


def classify_item(item: Mapping[str, Any]) -> WebhookEvent:
    event_code = text(field(item, "eventCode"))
    psp_reference = text(field(item, "pspReference"))
    success = item.get("success")
    if event_code is None or psp_reference is None or success not in ("true", "false"):
        raise WebhookPayloadError("eventCode, pspReference and success ('true'/'false') needed")
    amount, currency = _amount(item)
    common: dict[str, Any] = {
        "processor": NAME,
        "event_id": f"{event_code}:{psp_reference}:{success}",
        "event_type": event_code,
        "amount": amount,
        "currency": currency,
        "payment_reference": text(item.get("originalReference")),
        "reason": text(item.get("reason")),
    }
    refund_kind = _refund_kind(event_code, success == "true")
    if refund_kind is not None:
        refund_id = text(item.get("merchantReference"))
        return WebhookEvent(
            kind=refund_kind,
            refund_id=refund_id,
            transaction_id=transaction_of(refund_id),
            result=_refund_result(item, event_code, success == "true"),
            **common,
        )
    stage = DISPUTE_STAGES.get(event_code)
    if stage is not None and success == "true":
        kind, dispute_round = stage
        return WebhookEvent(kind=kind, dispute_reference=psp_reference + dispute_round, **common)
    return WebhookEvent(kind=WebhookEventKind.IGNORED, **common)


class AdyenWebhooks:
    name = NAME

    def __init__(
        self,
        hmac_keys: Sequence[str],
        merchant_account: str,
        *,
        metrics: Counter | None = None,
    ):
        if not hmac_keys:
            raise ValueError("at least one Adyen HMAC key is needed")
        if not merchant_account:
            raise ValueError("the Adyen merchant account is needed to accept webhooks")
        for key in hmac_keys:
            hmac_key(key)
        self._keys = tuple(hmac_keys)
        self._merchant_account = merchant_account
        self._metrics = metrics

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        """Every item must carry a valid signature, or the whole request is rejected; items
        for another merchant account are left out, logged and counted."""
        items = _items(json_object(body))
        for item in items:
            verify_item(item, self._keys)
        return [classify_item(item) for item in items if self._ours(item)]

    def _ours(self, item: Mapping[str, Any]) -> bool:
        """Only an item whose signed fields split one way only, naming our account."""
        account = item.get("merchantAccountCode")
        if account == self._merchant_account and not _ambiguous(item):
            return True
        _log.warning(
            "Adyen notification item for another merchant account, or with ':' in a signed "
            "field, refused",
            extra={"event_code": item.get("eventCode"), "psp_reference": item.get("pspReference")},
        )
        if self._metrics is not None:
            self._metrics.count(FOREIGN_ITEMS_METRIC)
        return False
