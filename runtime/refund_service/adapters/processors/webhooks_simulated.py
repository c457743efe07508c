"""The simulated processor's webhooks (SPEC 5), in the format of `simulated_webhook.py`.

Header `Simulated-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the local
webhook secret, within five minutes; the signature is checked before the body is read. With no
secret configured every webhook is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from refund_service.adapters.processors import simulated_webhook as wire
from refund_service.adapters.processors.fields import text
from refund_service.adapters.processors.webhooks import (
    WebhookPayloadError,
    WebhookSignatureError,
    field,
    json_object,
    object_field,
    verify_timestamped_signature,
)
from refund_service.domain.processor import (
    ProcessorCode,
    WebhookEvent,
    WebhookEventKind,
    normalized,
)

NAME = "simulated"
SUCCEEDED_EVENT = wire.EVENT_TYPES[ProcessorCode.APPROVED.value]


def _code(data: Mapping[str, Any]) -> ProcessorCode:
    try:
        return ProcessorCode(field(data, "code"))
    except ValueError:
        raise WebhookPayloadError(f"unknown code {data.get('code')!r}") from None


def _string(data: Mapping[str, Any], key: str) -> str:
    value = text(field(data, key))
    if value is None:
        raise WebhookPayloadError(f"{key!r} must be a non-empty string")
    return value


def classify_event(event: Mapping[str, Any]) -> WebhookEvent:
    event_id, event_type = _string(event, "id"), _string(event, "type")
    data = object_field(event, "data")
    amount, code = field(data, "amount"), _code(data)
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise WebhookPayloadError("'amount' must be an integer")
    succeeded = event_type == SUCCEEDED_EVENT
    if succeeded != (code is ProcessorCode.APPROVED):
        raise WebhookPayloadError(f"event type {event_type!r} contradicts code {code.value}")
    reference = _string(data, "reference")
    return WebhookEvent(
        processor=NAME,
        event_id=event_id,
        kind=WebhookEventKind.REFUND_SUCCEEDED if succeeded else WebhookEventKind.REFUND_FAILED,
        event_type=event_type,
        refund_id=_string(data, "refund_id"),
        transaction_id=_string(data, "transaction_id"),
        amount=amount,
        currency=_string(data, "currency"),
        result=normalized(code, NAME, reference=reference),
        reason=code.value,
    )


class SimulatedWebhooks:
    name = NAME

    def __init__(
        self,
        secret: str,
        *,
        tolerance: int = wire.TOLERANCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        self._secret = secret
        self._tolerance = tolerance
        self._clock = clock

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        if not self._secret:
            raise WebhookSignatureError("no simulated webhook secret is configured")
        verify_timestamped_signature(
            body, headers, wire.SIGNATURE_HEADER, (self._secret,), self._clock(), self._tolerance
        )
        return [classify_event(json_object(body))]
