"""The local gateway routes as API Gateway does: only the declared methods, spelled as declared,
and never a token-less request for a protected route to the function (issue 12, finding 1)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from local import auth
from local.gateway import Gateway

LEDGER = "/transactions/t1/ledger"


class Recorder:
    """A stand-in for a function: records what reached it and answers 200."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "headers": {}, "body": "{}"}


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def gateway(key: rsa.RSAPrivateKey) -> Gateway:
    return Gateway(key, Recorder(), Recorder(), {})


def send(
    gateway: Gateway, method: str, path: str, token: str | None = None, body: bytes = b""
) -> tuple[int, dict[str, Any]]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    status, _, payload = gateway.respond(method, path, "", headers, body, "127.0.0.1")
    return status, json.loads(payload)


def reached(handler: Any) -> list[str]:
    return [f"{e['requestContext']['http']['method']} {e['rawPath']}" for e in handler.events]


@pytest.mark.parametrize("method", ["get", "Get", "FOO", "TRACE", "CONNECT", "ANY"])
def test_a_method_api_gateway_does_not_route_is_404_before_any_function(
    gateway: Gateway, key: rsa.RSAPrivateKey, method: str
) -> None:
    for token in (None, auth.mint(key)):
        status, body = send(gateway, method, LEDGER, token)
        assert (status, body["error_code"]) == (404, "NOT_FOUND")
    assert reached(gateway.api) == reached(gateway.webhooks) == []


@pytest.mark.parametrize("token", [None, "not-a-token"])
@pytest.mark.parametrize(
    ("method", "path"), [("GET", LEDGER), ("POST", "/refunds"), ("POST", "/transactions")]
)
def test_a_protected_route_without_a_valid_token_is_401_before_the_function(
    gateway: Gateway, method: str, path: str, token: str | None
) -> None:
    status, body = send(gateway, method, path, token, b"[" * 3000 + b"]" * 3000)
    assert (status, body["error_code"], body["status"]) == (401, "UNAUTHORIZED", "failed")
    assert reached(gateway.api) == []


def test_a_valid_token_reaches_the_function_with_its_claims(
    gateway: Gateway, key: rsa.RSAPrivateKey
) -> None:
    status, _ = send(gateway, "GET", LEDGER, auth.mint(key, "refunds:read"))
    assert status == 200
    (event,) = gateway.api.events
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert (claims["sub"], claims["scope"]) == ("local-user", "refunds:read")


def test_public_routes_reach_their_function_without_a_token(gateway: Gateway) -> None:
    assert send(gateway, "GET", "/openapi.json")[0] == 200
    assert send(gateway, "POST", "/webhooks/adyen")[0] == 200
    assert reached(gateway.api) == ["GET /openapi.json"]
    assert reached(gateway.webhooks) == ["POST /webhooks/adyen"]


def test_only_post_reaches_the_webhooks_function(gateway: Gateway) -> None:
    send(gateway, "GET", "/webhooks/adyen")
    assert reached(gateway.webhooks) == []
