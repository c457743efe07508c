"""The published OpenAPI document: generated from the code, committed, and complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from refund_service.api.app import build_app, handle
from refund_service.api.openapi_document import render
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
