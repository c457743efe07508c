"""Who is calling and what they may do: JWT claims as API Gateway's JWT authorizer passes them.

API Gateway (or the local server) has already checked the token's signature, issuer, audience
and expiry; this reads the claims and enforces each route's scope on its own, whatever the
gateway did. It fails closed: a request that matches no route of the table below is refused,
so a route added to the resolver without a scope entry cannot be reached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from refund_service.domain.errors import ErrorCode

ROUTE_SCOPES: dict[tuple[str, str], str] = {
    ("POST", "/refunds"): "refunds:write",
    ("GET", "/refunds/{refund_id}"): "refunds:read",
    ("GET", "/refunds"): "refunds:read",
    ("GET", "/reports/refunds"): "refunds:read",
    ("POST", "/refunds/{refund_id}/rollback"): "refunds:admin",
    ("GET", "/transactions/{transaction_id}/ledger"): "refunds:read",
    ("GET", "/transactions/{transaction_id}/audit"): "refunds:read",
    ("POST", "/transactions"): "ledger:write",
    ("POST", "/transactions/{transaction_id}/complete"): "ledger:write",
    ("POST", "/transactions/{transaction_id}/chargebacks"): "ledger:write",
    ("POST", "/transactions/{transaction_id}/chargebacks/{chargeback_id}/resolve"): "ledger:write",
}
ALL_SCOPES = sorted(set(ROUTE_SCOPES.values()))
# Routes of the API function that need no token, each for its reason. The webhooks route is not
# here: it belongs to the webhooks function, which checks the processor's signature instead.
PUBLIC_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): "the contract, holding no data; tools read it before any token",
}
# Cognito names scopes `<resource server>/<scope>`; the stack's user pool uses this identifier.
RESOURCE_SERVER_ID = "refund-service"


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    scope: str | None  # None: public (PUBLIC_ROUTES says why)


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$")


_ROUTES = [
    (_pattern(template), Route(method, template, scope))
    for (method, template), scope in [
        *ROUTE_SCOPES.items(),
        *((key, None) for key in PUBLIC_ROUTES),
    ]
]


def canonical_method(method: str) -> str:
    """The method as the resolver routes it: Powertools upper-cases it, so scopes must be
    looked up under the same spelling or `get` would find no scope and pass unchecked."""
    return str(method).upper()


def match_route(method: str, path: str) -> Route | None:
    """The route a request resolves to, scoped or public; None when it is no route at all."""
    wanted = canonical_method(method)
    for pattern, route in _ROUTES:
        if route.method == wanted and pattern.match(path):
            return route
    return None


def required_scope(method: str, path: str) -> str | None:
    route = match_route(method, path)
    return route.scope if route else None


def route_template(method: str, path: str) -> str | None:
    """The route a request matches, as API Gateway names it in `routeKey`."""
    route = match_route(method, path)
    return route.template if route else None


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
    """The caller if allowed; a Denial if not; None for a public route, which needs no token."""
    route = match_route(method, path)
    if route is None:
        return Denial(ErrorCode.NOT_FOUND, "No such route.")
    if route.scope is None:
        return None
    return authorize_scope(principal_from_event(event), route.scope)


def authorize_scope(principal: Principal | None, scope: str | None) -> Principal | Denial:
    """The caller when they hold `scope`; a route without a scope (None) is refused to all."""
    if principal is None:
        return Denial(ErrorCode.UNAUTHORIZED, "A valid bearer token is required.")
    if scope is None:
        return Denial(ErrorCode.FORBIDDEN, "This route has no scope entry; it is refused.")
    if scope not in principal.scopes:
        return Denial(ErrorCode.FORBIDDEN, f"The token lacks the scope {scope}.")
    return principal
