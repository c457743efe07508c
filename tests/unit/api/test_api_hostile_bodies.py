"""Hostile bodies never crash the API function: each is 400 VALIDATION_ERROR in the envelope, or
401 when there is no token, and nothing is written (issue 12, finding 4; ids, finding 2)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from refund_service.api.app import build_app, handle
from refund_service.api.request_guard import MAX_JSON_DEPTH, nesting_depth
from refund_service.domain.ids import refund_id
from tests.support.events import claims_for, http_event
from tests.support.lambda_context import FakeLambdaContext
from tests.unit.api.conftest import Api, new_key

DEEP_ARRAY_WITH_LONE_SURROGATE = "[" * 3000 + '"\\ud800"' + "]" * 3000
PROTECTED = [
    ("POST", "/refunds"),
    ("POST", "/transactions"),
    ("POST", "/transactions/t1/chargebacks"),
    ("POST", "/refunds/t1-REFUND/rollback"),
    ("GET", "/transactions/t1/ledger"),
]


def refund_body(tid: str, **fields: Any) -> dict[str, Any]:
    return {"transaction_id": tid, "amount": 100, "reason": "other", **fields}


def post_refund(api: Api, raw: str) -> tuple[int, dict[str, Any]]:
    status, body, _ = api.call("POST", "/refunds", raw, headers={"Idempotency-Key": new_key()})
    return status, body


def assert_invalid(status: int, body: dict[str, Any]) -> None:
    assert (status, body["error_code"], body["status"]) == (400, "VALIDATION_ERROR", "failed")


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_a_deep_array_with_a_lone_surrogate_and_no_token_is_401(
    module_api: Api, method: str, path: str
) -> None:
    status, body, _ = module_api.call(method, path, DEEP_ARRAY_WITH_LONE_SURROGATE, anonymous=True)
    assert (status, body["error_code"]) == (401, "UNAUTHORIZED")


def test_a_deep_array_to_a_path_that_is_no_route_is_404(module_api: Api) -> None:
    status, body, _ = module_api.call(
        "POST", "/anything/at/all", DEEP_ARRAY_WITH_LONE_SURROGATE, anonymous=True
    )
    assert (status, body["error_code"]) == (404, "NOT_FOUND")


def test_a_deep_array_to_the_public_route_is_400(module_api: Api) -> None:
    status, body, _ = module_api.call(
        "GET", "/openapi.json", DEEP_ARRAY_WITH_LONE_SURROGATE, anonymous=True
    )
    assert_invalid(status, body)
    assert body["details"]["limit_depth"] == MAX_JSON_DEPTH


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_a_deep_array_with_a_token_is_400(module_api: Api, method: str, path: str) -> None:
    status, body, _ = module_api.call(
        method, path, DEEP_ARRAY_WITH_LONE_SURROGATE, headers={"Idempotency-Key": new_key()}
    )
    assert_invalid(status, body)


def test_nesting_one_level_past_the_limit_is_refused_and_at_the_limit_is_read(api: Api) -> None:
    tid = api.pay(10_000)
    at_limit = {"k": "x"}
    for _ in range(MAX_JSON_DEPTH - 2):
        at_limit = {"k": at_limit}
    body = refund_body(tid, metadata=at_limit)
    assert nesting_depth(json.dumps(body)) == MAX_JSON_DEPTH
    status, answer = post_refund(api, json.dumps(body))
    assert_invalid(status, answer)  # metadata values must be flat: refused by the schema
    assert answer["details"]["errors"][0]["loc"][:2] == ["body", "metadata"]
    status, answer = post_refund(api, json.dumps(refund_body(tid, metadata={"k": at_limit})))
    assert_invalid(status, answer)
    assert answer["details"]["limit_depth"] == MAX_JSON_DEPTH


def test_a_5000_digit_amount_is_400(api: Api) -> None:
    tid = api.pay(10_000)
    raw = json.dumps(refund_body(tid)).replace('"amount": 100', '"amount": ' + "9" * 5000)
    status, body = post_refund(api, raw)
    assert_invalid(status, body)
    assert api.ledger(tid)["summary"]["refunded_amount"] == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999999"])
def test_numbers_json_does_not_have_are_400(module_api: Api, literal: str) -> None:
    raw = json.dumps(refund_body("t1")).replace('"amount": 100', f'"amount": {literal}')
    status, body = post_refund(module_api, raw)
    assert_invalid(status, body)


def test_a_capture_moment_before_year_one_in_utc_is_400(api: Api) -> None:
    payment = {
        "transaction_id": "far-past-1",
        "amount": 1_000,
        "currency": "USD",
        "status": "completed",
        "captured_at": "0001-01-01T00:00:00+14:00",
    }
    status, body, _ = api.call("POST", "/transactions", payment)
    assert_invalid(status, body)
    assert body["details"]["field"] == "captured_at"
    status, _, _ = api.call("GET", "/transactions/far-past-1/ledger")
    assert status == 404


def test_duplicate_keys_are_400_and_refund_nothing(api: Api) -> None:
    decoy, victim = api.pay(10_000), api.pay(10_000)
    raw = (
        f'{{"transaction_id": "{decoy}", "transaction_id": "{victim}",'
        ' "amount": 1, "amount": 2, "reason": "other"}'
    )
    status, body = post_refund(api, raw)
    assert_invalid(status, body)
    assert body["details"]["repeated_keys"] == ["amount", "transaction_id"]
    for tid in (decoy, victim):
        assert api.ledger(tid)["summary"]["refunded_amount"] == 0


def test_a_repeated_key_deeper_down_is_400(module_api: Api) -> None:
    raw = json.dumps(refund_body("t1", metadata={"a": 1})).replace('{"a": 1}', '{"a": 1, "a": 2}')
    status, body = post_refund(module_api, raw)
    assert_invalid(status, body)


@pytest.mark.parametrize("text", ['"\\ud800"', '"\\udfff x"', '"a\\udc00\\ud800"'])
def test_lone_surrogates_anywhere_are_400(module_api: Api, text: str) -> None:
    raw = json.dumps(refund_body("t1", metadata={"note": "x"})).replace('"x"', text)
    status, body = post_refund(module_api, raw)
    assert_invalid(status, body)


def test_a_base64_body_that_is_not_utf8_is_400(module_api: Api) -> None:
    app = build_app(lambda: module_api.runtime)
    event = http_event("POST", "/refunds", None, claims=claims_for())
    event.update(
        body=base64.b64encode(b'{"transaction_id": "\xff"}').decode(), isBase64Encoded=True
    )
    result = handle(app, event, FakeLambdaContext())
    assert_invalid(result["statusCode"], json.loads(result["body"]))


@pytest.mark.parametrize("raw", ["{", '{"transaction_id": }', "[1, 2", '"unterminated'])
def test_malformed_json_is_400(module_api: Api, raw: str) -> None:
    status, body = post_refund(module_api, raw)
    assert_invalid(status, body)


def test_a_well_formed_refund_still_goes_through(api: Api) -> None:
    tid = api.pay(10_000)
    status, body = post_refund(api, json.dumps(refund_body(tid, metadata={"note": "é ✓"})))
    assert (status, body["amount"]) == (200, 100)


# --- ids the service issues hold no ':' ---------------------------------------------------------


def test_a_payment_id_with_a_colon_is_400_and_not_recorded(api: Api) -> None:
    payment = {
        "transaction_id": "shop:1",
        "amount": 1_000,
        "currency": "USD",
        "status": "completed",
    }
    status, body, _ = api.call("POST", "/transactions", payment)
    assert_invalid(status, body)
    assert body["details"]["errors"][0]["loc"] == ["body", "transaction_id"]
    status, _, _ = api.call("GET", "/transactions/shop:1/ledger")
    assert status == 404


def test_a_refund_for_an_id_with_a_colon_is_400(module_api: Api) -> None:
    status, body = post_refund(module_api, json.dumps(refund_body("shop:1")))
    assert_invalid(status, body)
    assert body["details"]["errors"][0]["loc"] == ["body", "transaction_id"]


def test_no_refund_id_is_made_from_an_id_with_a_colon() -> None:
    assert refund_id("shop-1", 2) == "shop-1-REFUND-2"
    with pytest.raises(ValueError, match="':'"):
        refund_id("shop:1", 1)
