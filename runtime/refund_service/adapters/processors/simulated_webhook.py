"""The simulated processor's webhooks: their body and their Stripe-style signature (SPEC 5).

Header `Simulated-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the
local webhook secret. The sender (the simulated processor) and the receiver (the webhook
parser) both use this module, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGNATURE_HEADER = "Simulated-Signature"
TOLERANCE_SECONDS = 300
EVENT_TYPES = {"APPROVED": "refund.succeeded"}  # any other decided code is a failure
FAILED_EVENT = "refund.failed"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def event_body(
    *,
    refund_id: str,
    transaction_id: str,
    amount: int,
    currency: str,
    code: str,
    reference: str,
    created: int,
) -> bytes:
    """One decided refund as a webhook event; its id is stable for the same decision."""
    event: dict[str, Any] = {
        "id": f"evt_sim_{reference}_{code.lower()}",
        "type": EVENT_TYPES.get(code, FAILED_EVENT),
        "created": created,
        "data": {
            "refund_id": refund_id,
            "transaction_id": transaction_id,
            "amount": amount,
            "currency": currency,
            "code": code,
            "reference": reference,
        },
    }
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
