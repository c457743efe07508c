"""API Gateway HTTP API (payload format 2.0) events, as the JWT authorizer passes them on."""

from __future__ import annotations

import json
import uuid
from typing import Any

from local.events import payload_v2_event

ALL_SCOPES = "refunds:write refunds:read refunds:admin ledger:write"


def claims_for(
    scopes: str = ALL_SCOPES,
    sub: str = "user-42",
    email: str | None = "ops@example.com",
    **extra: Any,
) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": sub, "scope": scopes, **extra}
    if email:
        claims["email"] = email
    return claims


def http_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    claims: dict[str, Any] | None = None,
    source_ip: str = "203.0.113.9",
) -> dict[str, Any]:
    raw_body = body if isinstance(body, str) or body is None else json.dumps(body)
    path, _, query = path.partition("?")
    return payload_v2_event(
        method,
        path,
        query=query,
        body=raw_body,
        claims=claims,
        source_ip=source_ip,
        headers={"content-type": "application/json", **(headers or {})},
    )


def new_key() -> str:
    """A fresh Idempotency-Key."""
    return f"key-{uuid.uuid4().hex}"
