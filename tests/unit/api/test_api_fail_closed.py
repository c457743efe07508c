"""The function authorizes on its own: the method's spelling, unknown routes and routes without a
scope entry cannot skip the scope check (issue 12, finding 1)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import Response

from refund_service.api.app import build_app, handle
from refund_service.api.auth import ROUTE_SCOPES, principal_from_event
from tests.support.events import claims_for, http_event
from tests.support.lambda_context import FakeLambdaContext
from tests.unit.api.conftest import Api, new_key

READ_ROUTES = ["/transactions/{tid}/ledger", "/transactions/{tid}/audit", "/refunds/{rid}"]


@pytest.fixture(scope="module")
def paid(module_api: Api) -> tuple[Api, str, str]:
    tid = module_api.pay(10_000)
    status, body, _ = module_api.refund(tid, 1_000)
    assert status == 200, body
    return module_api, tid, body["refund_transaction_id"]


def _path(template: str, tid: str, rid: str) -> str:
    return template.replace("{tid}", tid).replace("{rid}", rid)


@pytest.mark.parametrize("method", ["get", "Get", "gET"])
@pytest.mark.parametrize("template", READ_ROUTES)
def test_a_get_route_spelled_in_another_case_still_needs_a_token(
    paid: tuple[Api, str, str], method: str, template: str
) -> None:
    api, tid, rid = paid
    status, body, _ = api.call(method, _path(template, tid, rid), anonymous=True)
    assert (status, body["error_code"], body["status"]) == (401, "UNAUTHORIZED", "failed")
    assert not {"summary", "entries", "records"} & body.keys()


@pytest.mark.parametrize("method", ["get", "Get"])
def test_a_get_route_spelled_in_another_case_still_needs_its_scope(
    paid: tuple[Api, str, str], method: str
) -> None:
    api, tid, _ = paid
    status, body, _ = api.call(method, f"/transactions/{tid}/ledger", scopes="refunds:write")
    assert (status, body["error_code"]) == (403, "FORBIDDEN")
    status, body, _ = api.call(method, f"/transactions/{tid}/ledger", scopes="refunds:read")
    assert (status, body["summary"]["transaction_id"]) == (200, tid)


@pytest.mark.parametrize("method", ["post", "Post"])
def test_creating_a_refund_with_a_read_token_is_403_in_the_envelope(
    paid: tuple[Api, str, str], method: str
) -> None:
    api, tid, _ = paid
    before = api.ledger(tid)
    status, body, _ = api.call(
        method,
        "/refunds",
        {"transaction_id": tid, "amount": 100, "reason": "other"},
        scopes="refunds:read",
        headers={"Idempotency-Key": new_key()},
    )
    assert (status, body["error_code"], body["status"]) == (403, "FORBIDDEN", "failed")
    assert api.ledger(tid) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/refunds"), ("FOO", "/refunds"), ("PUT", "/transactions/t/ledger")],
)
def test_a_method_and_path_that_are_no_route_are_404_with_or_without_a_token(
    module_api: Api, method: str, path: str
) -> None:
    for auth in ({"anonymous": True}, {}):
        status, body, _ = module_api.call(method, path, **auth)
        assert (status, body["error_code"]) == (404, "NOT_FOUND"), auth


def test_every_route_of_the_resolver_has_a_scope_entry_or_is_public(module_api: Api) -> None:
    status, document, _ = module_api.call("GET", "/openapi.json", anonymous=True)
    assert status == 200
    served = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert served == set(ROUTE_SCOPES)


def _with_unscoped_route(api: Api, ran: list[str]) -> Any:
    """The real app plus one route that someone forgot to give a scope entry."""
    app = build_app(lambda: api.runtime)

    @app.get("/transactions/<transaction_id>/secrets")
    def secrets(transaction_id: str) -> Response[Any]:
        ran.append(transaction_id)
        return Response(200, "application/json", json.dumps({"secret": transaction_id}))

    return app


def test_a_resolver_route_without_a_scope_entry_is_never_reached(module_api: Api) -> None:
    ran: list[str] = []
    app = _with_unscoped_route(module_api, ran)
    for claims in (claims_for(), None):
        event = http_event("GET", "/transactions/t1/secrets", claims=claims)
        result = handle(app, event, FakeLambdaContext())
        assert result["statusCode"] == 404, result
        assert json.loads(result["body"])["error_code"] == "NOT_FOUND"
    assert ran == []


def test_the_resolver_refuses_a_route_without_a_scope_entry_even_past_the_checks(
    module_api: Api,
) -> None:
    ran: list[str] = []
    app = _with_unscoped_route(module_api, ran)
    event = http_event("GET", "/transactions/t1/secrets", claims=claims_for())
    app.append_context(principal=principal_from_event(event))
    result = app.resolve(event, FakeLambdaContext())
    assert (result["statusCode"], json.loads(result["body"])["error_code"]) == (403, "FORBIDDEN")
    assert ran == []


def test_the_resolver_checks_the_scope_of_the_route_it_resolved(
    paid: tuple[Api, str, str],
) -> None:
    api, tid, _ = paid
    app = build_app(lambda: api.runtime)
    for principal_claims, expected in ((None, 401), (claims_for("refunds:write"), 403)):
        event = http_event("GET", f"/transactions/{tid}/ledger", claims=principal_claims)
        app.append_context(principal=principal_from_event(event))
        result = app.resolve(event, FakeLambdaContext())
        assert result["statusCode"] == expected, result
        assert "summary" not in json.loads(result["body"])
