"""Tokens and scopes on every route: no token is 401, a missing scope is 403, nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.events import ALL_SCOPES
from tests.unit.api.conftest import Api, new_key

# SPEC section 4: (method, path with {tid} and {rid} to fill in, required scope, a valid body)
ROUTES: list[tuple[str, str, str, Any]] = [
    ("POST", "/refunds", "refunds:write", {"transaction_id": "{tid}", "reason": "other"}),
    ("GET", "/refunds/{rid}", "refunds:read", None),
    ("POST", "/refunds/{rid}/rollback", "refunds:admin", {"reason": "entered in error"}),
    ("GET", "/transactions/{tid}/ledger", "refunds:read", None),
    ("GET", "/transactions/{tid}/audit", "refunds:read", None),
    (
        "POST",
        "/transactions",
        "ledger:write",
        {"transaction_id": "{tid}-new", "amount": 100, "currency": "USD", "status": "completed"},
    ),
    ("POST", "/transactions/{tid}/complete", "ledger:write", None),
    ("POST", "/transactions/{tid}/chargebacks", "ledger:write", {"amount": 100}),
]
IDS = [f"{method} {path}" for method, path, _, _ in ROUTES]


def fill(value: Any, tid: str, rid: str) -> Any:
    if isinstance(value, str):
        return value.replace("{tid}", tid).replace("{rid}", rid)
    if isinstance(value, dict):
        return {k: fill(v, tid, rid) for k, v in value.items()}
    return value


def make_refund(api: Api) -> tuple[str, str]:
    """(transaction id, refund id): a payment with one paid refund."""
    tid = api.pay(10_000)
    status, body, _ = api.refund(tid, 1_000)
    assert status == 200
    return tid, body["refund_transaction_id"]


@pytest.fixture(scope="module")
def refused_world(module_api: Api) -> tuple[Api, tuple[str, str], Any]:
    """A refund to aim refused requests at, and what was stored before any of them."""
    ids = make_refund(module_api)
    return module_api, ids, module_api.written(ids[0])


def request(
    api: Api, route: tuple[str, str, str, Any], ids: tuple[str, str], **auth: Any
) -> tuple[int, dict[str, Any]]:
    method, path, _, body = route
    status, answer, _ = api.call(
        method,
        fill(path, *ids),
        fill(body, *ids),
        headers={"Idempotency-Key": new_key()},
        **auth,
    )
    return status, answer


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_without_a_token_every_route_is_401_and_writes_nothing(
    refused_world: tuple[Api, tuple[str, str], Any], route: tuple[str, str, str, Any]
) -> None:
    api, ids, stored = refused_world
    status, body = request(api, route, ids, anonymous=True)
    assert (status, body["error_code"], body["status"]) == (401, "UNAUTHORIZED", "failed")
    assert api.written(ids[0]) == stored


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_without_the_route_scope_every_route_is_403_and_writes_nothing(
    refused_world: tuple[Api, tuple[str, str], Any], route: tuple[str, str, str, Any]
) -> None:
    api, ids, stored = refused_world
    others = " ".join(s for s in ALL_SCOPES.split() if s != route[2])
    status, body = request(api, route, ids, scopes=others)
    assert (status, body["error_code"], body["status"]) == (403, "FORBIDDEN", "failed")
    assert api.written(ids[0]) == stored


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_the_route_scope_alone_is_enough(api: Api, route: tuple[str, str, str, Any]) -> None:
    status, body = request(api, route, make_refund(api), scopes=route[2])
    assert status in (200, 201), body


def test_an_oversized_body_is_400_before_the_token_is_looked_at(module_api: Api) -> None:
    status, body, _ = module_api.call("POST", "/refunds", "x" * 17_000, anonymous=True)
    assert (status, body["error_code"]) == (400, "VALIDATION_ERROR")
    assert body["details"]["limit_bytes"] == 16 * 1024


def test_a_path_that_is_no_route_is_404(module_api: Api) -> None:
    status, body, _ = module_api.call("GET", "/reports")
    assert (status, body["error_code"], body["message"]) == (
        404,
        "NOT_FOUND",
        "No such route.",
    )


def test_a_token_without_a_subject_is_401(module_api: Api) -> None:
    status, body, _ = module_api.call(
        "GET", "/transactions/any/ledger", claims={"scope": "refunds:read"}
    )
    assert (status, body["error_code"]) == (401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("scp", "expected"),
    [
        (["refunds:read"], 200),
        (["refunds:write", "ledger:write"], 403),
        ("[refunds:read refunds:write]", 200),
        ("[refunds:write]", 403),
        ("refunds:read", 200),
        (["refund-service/refunds:read"], 200),
    ],
    ids=[
        "list",
        "list-without",
        "gateway-string",
        "gateway-string-without",
        "plain-string",
        "cognito-resource-server-prefix",
    ],
)
def test_the_scp_claim_works_as_a_list_and_as_the_gateway_string(
    refused_world: tuple[Api, tuple[str, str], Any], scp: Any, expected: int
) -> None:
    api, (tid, _), _ = refused_world
    status, body, _ = api.call(
        "GET", f"/transactions/{tid}/ledger", claims={"sub": "svc-1", "scp": scp}
    )
    assert status == expected, body


def test_a_plain_correlation_id_is_kept_and_anything_else_replaced(module_api: Api) -> None:
    _, _, headers = module_api.call("GET", "/refunds", headers={"X-Correlation-Id": "ops-42.a:b"})
    assert headers["X-Correlation-Id"] == "ops-42.a:b"
    for offered in ("x" * 129, "evil\nInjected: 1", "<script>"):
        _, _, headers = module_api.call("GET", "/refunds", headers={"X-Correlation-Id": offered})
        assert headers["X-Correlation-Id"] != offered
        assert len(headers["X-Correlation-Id"]) <= 128


def test_a_body_that_is_not_declared_json_is_415(module_api: Api) -> None:
    body = {"transaction_id": "t", "amount": 1, "reason": "other"}
    status, answer, _ = module_api.call(
        "POST", "/refunds", body, headers={"Content-Type": "text/plain", "Idempotency-Key": "k"}
    )
    assert (status, answer["error_code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_a_multipart_body_without_boundary_is_415_not_500(module_api: Api) -> None:
    status, answer, _ = module_api.call(
        "POST",
        "/transactions/t/chargebacks",
        "{}",
        headers={"Content-Type": "multipart/form-data"},
    )
    assert (status, answer["error_code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
