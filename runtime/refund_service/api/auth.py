"""Who is calling and what they may do: JWT claims as API Gateway's JWT authorizer passes them.

API Gateway (or the local server) has already checked the token's signature, issuer, audience
and expiry; this reads the claims and enforces each route's scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from refund_service.domain.errors import ErrorCode

ROUTE_SCOPES: dict[tuple[str, str], str] = {
    ("POST", "/refunds"): "refunds:write",
    ("GET", "/refunds/{refund_id}"): "refunds:read",
    ("POST", "/refunds/{refund_id}/rollback"): "refunds:admin",
    ("GET", "/transactions/{transaction_id}/ledger"): "refunds:read",
    ("GET", "/transactions/{transaction_id}/audit"): "refunds:read",
    ("POST", "/transactions"): "ledger:write",
    ("POST", "/transactions/{transaction_id}/complete"): "ledger:write",
    ("POST", "/transactions/{transaction_id}/chargebacks"): "ledger:write",
    ("POST", "/transactions/{transaction_id}/chargebacks/{chargeback_id}/resolve"): "ledger:write",
}
ALL_SCOPES = sorted(set(ROUTE_SCOPES.values()))
# Cognito names scopes `<resource server>/<scope>`; the stack's user pool uses this identifier.
RESOURCE_SERVER_ID = "refund-service"

_ROUTES = [
    (method, re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"), template, scope)
    for (method, template), scope in ROUTE_SCOPES.items()
]


def _match(method: str, path: str) -> tuple[str, str] | None:
    """(route template, scope) of the route a request matches."""
    for route_method, pattern, template, scope in _ROUTES:
        if route_method == method and pattern.match(path):
            return template, scope
    return None


def required_scope(method: str, path: str) -> str | None:
    matched = _match(method, path)
    return matched[1] if matched else None


def route_template(method: str, path: str) -> str | None:
    """The route a request matches, as API Gateway names it in `routeKey`."""
    matched = _match(method, path)
    return matched[0] if matched else None


@dataclass(frozen=True)
class Principal:
    subject: str
    scopes: frozenset[str]
    email: str | None = None
    client_id: str | None = None

    @property
    def is_user(self) -> bool:
        """A person signed in, rather than a service using its client credentials."""
        return bool(self.email) or (self.client_id is None or self.subject != self.client_id)


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scp", ""))
    # API Gateway passes list claims as a string like "[a b]"
    names = [str(s) for s in raw] if isinstance(raw, list) else re.split(r"[\s,\[\]]+", str(raw))
    prefix = f"{RESOURCE_SERVER_ID}/"
    return frozenset(name.removeprefix(prefix) for name in names if name)


def principal_from_event(event: dict[str, Any]) -> Principal | None:
    claims = event.get("requestContext", {}).get("authorizer", {}).get("jwt", {}).get("claims")
    if not claims or not claims.get("sub"):
        return None
    return Principal(
        subject=str(claims["sub"]),
        scopes=_scopes(claims),
        email=claims.get("email"),
        client_id=claims.get("client_id"),
    )


@dataclass(frozen=True)
class Denial:
    code: ErrorCode
    message: str


def authorize(event: dict[str, Any], method: str, path: str) -> Principal | Denial | None:
    """The caller if allowed; a Denial if not; None for a route that needs no token."""
    scope = required_scope(method, path)
    if scope is None:
        return None
    principal = principal_from_event(event)
    if principal is None:
        return Denial(ErrorCode.UNAUTHORIZED, "A valid bearer token is required.")
    if scope not in principal.scopes:
        return Denial(ErrorCode.FORBIDDEN, f"The token lacks the scope {scope}.")
    return principal
