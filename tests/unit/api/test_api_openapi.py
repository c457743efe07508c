"""The published OpenAPI document: generated from the code, committed, and complete."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from refund_service.api.app import build_app, handle
from refund_service.api.auth import ROUTE_SCOPES
from refund_service.api.openapi_document import render
from refund_service.api.routing import new_router, scoped
from tests.support.events import http_event
from tests.support.lambda_context import FakeLambdaContext

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"

# SPEC section 4, the routes of the API function (webhooks have a function of their own)
SPEC_ROUTES = {
    ("post", "/refunds"): "refunds:write",
    ("get", "/refunds/{refund_id}"): "refunds:read",
    ("post", "/refunds/{refund_id}/rollback"): "refunds:admin",
    ("get", "/transactions/{transaction_id}/ledger"): "refunds:read",
    ("get", "/transactions/{transaction_id}/audit"): "refunds:read",
    ("post", "/transactions"): "ledger:write",
    ("post", "/transactions/{transaction_id}/complete"): "ledger:write",
    ("post", "/transactions/{transaction_id}/chargebacks"): "ledger:write",
    ("post", "/transactions/{transaction_id}/chargebacks/{chargeback_id}/resolve"): "ledger:write",
    ("get", "/refunds"): "refunds:read",
    ("get", "/reports/refunds"): "refunds:read",
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(render())
    return parsed


def test_the_committed_document_is_what_the_code_generates() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        "docs/openapi.json is out of date: run `make openapi` and commit the result"
    )


@pytest.mark.parametrize(("method", "path"), sorted(SPEC_ROUTES))
def test_every_spec_route_is_documented_with_its_scope(
    document: dict[str, Any], method: str, path: str
) -> None:
    operation = document["paths"].get(path, {}).get(method)
    assert operation is not None, f"{method.upper()} {path} is missing"
    assert operation["security"] == [{"bearerAuth": [SPEC_ROUTES[(method, path)]]}]
    assert {"400", "401", "403", "500"} <= operation["responses"].keys()


def test_nothing_but_the_spec_routes_is_documented(document: dict[str, Any]) -> None:
    documented = {(m, p) for p, item in document["paths"].items() for m in item}
    assert documented == set(SPEC_ROUTES)


def test_post_refunds_declares_the_idempotency_key_and_every_answer(
    document: dict[str, Any],
) -> None:
    operation = document["paths"]["/refunds"]["post"]
    headers = {p["name"].lower(): p for p in operation.get("parameters", []) if p["in"] == "header"}
    assert headers["idempotency-key"]["required"] is True
    assert {"200", "202", "400", "401", "403", "404", "409", "422", "503"} <= set(
        operation["responses"]
    )
    assert operation["requestBody"]["required"] is True


def test_the_bearer_scheme_is_declared(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")


def test_the_api_serves_the_same_document_without_a_token(document: dict[str, Any]) -> None:
    def no_runtime() -> Any:
        raise AssertionError("serving the document must not need the runtime")

    result = handle(build_app(no_runtime), http_event("GET", "/openapi.json"), FakeLambdaContext())
    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == document


def test_every_documented_scope_is_the_scope_the_guard_enforces(document: dict[str, Any]) -> None:
    documented = {
        (method.upper(), path): operation["security"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    enforced = {route: [{"bearerAuth": [scope]}] for route, scope in ROUTE_SCOPES.items()}
    assert documented == enforced


def test_a_route_without_a_scope_entry_cannot_be_declared() -> None:
    router = new_router()
    with pytest.raises(KeyError):
        scoped(router, "GET", "/transactions/<transaction_id>/secrets")


def _links(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                for name, link in response.get("links", {}).items():
                    yield f"{method.upper()} {path} {status} {name}", link


def test_every_link_names_an_operation_and_parameters_it_takes(document: dict[str, Any]) -> None:
    operations = {
        operation["operationId"]: operation
        for item in document["paths"].values()
        for operation in item.values()
    }
    links = list(_links(document))
    assert links
    for label, link in links:
        target = operations.get(link["operationId"])
        assert target is not None, label
        taken = {p["name"] for p in target.get("parameters", [])}
        assert set(link.get("parameters", {})) <= taken, label
        if "requestBody" in link:
            assert "requestBody" in target, label


@pytest.mark.parametrize(
    ("source", "status", "links"),
    [
        (("post", "/refunds"), "200", {"refund", "rollback", "ledger", "audit", "chargeback"}),
        (("post", "/refunds"), "202", {"refund", "rollback"}),
        (("post", "/transactions"), "201", {"ledger", "audit", "chargeback", "refund"}),
        (("post", "/transactions/{transaction_id}/chargebacks"), "201", {"resolve"}),
    ],
)
def test_created_resources_link_to_where_they_are_read_and_changed(
    document: dict[str, Any], source: tuple[str, str], status: str, links: set[str]
) -> None:
    method, path = source
    declared = document["paths"][path][method]["responses"][status].get("links", {})
    assert links <= set(declared)
