"""Processor webhooks: what every parser shares, and the timestamped HMAC header check.

A parser verifies the signature, then classifies each event in our own terms
(docs/processors.md). Per vendor: `webhooks_stripe.py`, `webhooks_adyen.py`,
`webhooks_simulated.py`. The event id is stable across redeliveries, so the service can drop
replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from refund_service.domain.ids import parse_refund_id
from refund_service.domain.processor import WebhookEvent

TOLERANCE_SECONDS = 300


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


class Counter(Protocol):
    """Where a parser counts what it refused (the service's MetricsSink fits)."""

    def count(self, name: str, value: int = 1, **dimensions: str) -> None: ...


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise WebhookPayloadError("body is not JSON") from None
    if not isinstance(document, dict):
        raise WebhookPayloadError("body is not a JSON object")
    return document


def field(obj: Mapping[str, Any], key: str) -> Any:
    if key not in obj:
        raise WebhookPayloadError(f"notification lacks {key!r}")
    return obj[key]


def object_field(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = field(obj, key)
    if not isinstance(value, dict):
        raise WebhookPayloadError(f"{key!r} is not an object")
    return value


def transaction_of(refund_id: str | None) -> str | None:
    parsed = parse_refund_id(refund_id) if refund_id else None
    return parsed[0] if parsed else None


# --- `t=<unix>,v1=<hex>` headers (Stripe, and the simulated processor after it) ----------------


def timestamped_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<body>`."""
    signed = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _header_parts(header_name: str, signature_header: str) -> tuple[str, list[str]]:
    timestamp, signatures = "", []
    for element in signature_header.split(","):
        key, _, value = element.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if not (timestamp.isascii() and timestamp.isdigit()) or not signatures:
        raise WebhookSignatureError(f"{header_name} has no timestamp or no v1 signature")
    return timestamp, signatures


def verify_timestamped_signature(
    body: bytes,
    headers: Mapping[str, str],
    header_name: str,
    secrets: Sequence[str],
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """A v1 made with any of `secrets`, compared in constant time, dated within `tolerance`
    seconds of `now` either way (an old body cannot be replayed with a new date: the date is
    signed)."""
    signature_header = header_value(headers, header_name)
    if not signature_header:
        raise WebhookSignatureError(f"missing {header_name} header")
    timestamp, signatures = _header_parts(header_name, signature_header)
    expected = [timestamped_signature(secret, timestamp, body).encode() for secret in secrets]
    if not any(hmac.compare_digest(e, s.encode()) for e in expected for s in signatures):
        raise WebhookSignatureError(f"no {header_name} signature matches the body")
    if abs(now - int(timestamp)) > tolerance:
        raise WebhookSignatureError(f"{header_name} timestamp outside the tolerance")
