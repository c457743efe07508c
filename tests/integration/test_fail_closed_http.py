"""Issue 12, findings 1 and 4 over HTTP against the local stack: the method's spelling cannot
skip authorization, and hostile bodies get 400 (or 401 without a token), never a 5xx."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.integration.conftest import RunningStack

DEEP_ARRAY_WITH_LONE_SURROGATE = ("[" * 3000 + '"\\ud800"' + "]" * 3000).encode()


@pytest.fixture(scope="module")
def paid(stack: RunningStack) -> str:
    tid = f"fc-{uuid.uuid4().hex[:10]}"
    body = {"transaction_id": tid, "amount": 10_000, "currency": "USD", "status": "completed"}
    status, _, answer = stack.request("POST", "/transactions", body, token=stack.token())
    assert status == 201, answer
    return tid


def refund_raw(
    stack: RunningStack, raw: str | bytes, token: str | None, method: str = "POST"
) -> tuple[int, Any]:
    data = raw.encode() if isinstance(raw, str) else raw
    status, _, answer = stack.request(
        method, "/refunds", raw=data, token=token, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    return status, answer


def refunded(stack: RunningStack, tid: str) -> int:
    status, _, answer = stack.request(
        "GET", f"/transactions/{tid}/ledger", token=stack.token("refunds:read")
    )
    assert status == 200, answer
    return int(answer["summary"]["refunded_amount"])


@pytest.mark.parametrize("method", ["get", "Get"])
@pytest.mark.parametrize("suffix", ["ledger", "audit"])
def test_a_get_route_spelled_in_another_case_gives_nothing_away(
    stack: RunningStack, paid: str, method: str, suffix: str
) -> None:
    for token in (None, stack.token()):
        status, _, answer = stack.request(method, f"/transactions/{paid}/{suffix}", token=token)
        assert (status, answer["error_code"]) == (404, "NOT_FOUND"), token
        assert not {"summary", "entries", "records"} & answer.keys()


def test_a_protected_route_without_a_token_is_401(stack: RunningStack, paid: str) -> None:
    status, _, answer = stack.request("GET", f"/transactions/{paid}/ledger")
    assert (status, answer["error_code"], answer["status"]) == (401, "UNAUTHORIZED", "failed")


@pytest.mark.parametrize(("method", "expected"), [("POST", 403), ("post", 404), ("Post", 404)])
def test_creating_a_refund_with_a_read_token_is_refused_in_the_envelope(
    stack: RunningStack, paid: str, method: str, expected: int
) -> None:
    body = json.dumps({"transaction_id": paid, "amount": 100, "reason": "other"})
    status, answer = refund_raw(stack, body, stack.token("refunds:read"), method)
    assert (status, answer["status"]) == (expected, "failed")
    assert refunded(stack, paid) == 0


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/refunds", 401),
        ("GET", "/transactions/x/ledger", 401),
        ("POST", "/nowhere", 404),
        ("PATCH", "/refunds", 404),
    ],
)
def test_a_deep_array_with_a_lone_surrogate_and_no_token(
    stack: RunningStack, method: str, path: str, expected: int
) -> None:
    status, _, answer = stack.request(method, path, raw=DEEP_ARRAY_WITH_LONE_SURROGATE)
    assert (status, answer["status"]) == (expected, "failed")


def test_hostile_bodies_with_a_token_are_400(stack: RunningStack, paid: str) -> None:
    token = stack.token()
    valid = json.dumps({"transaction_id": paid, "amount": 100, "reason": "other"})
    hostile = {
        "deep array": DEEP_ARRAY_WITH_LONE_SURROGATE,
        "deep object": ('{"a":' * 2000 + "1" + "}" * 2000).encode(),
        "5,000-digit amount": valid.replace('"amount": 100', '"amount": ' + "9" * 5000),
        "duplicate keys": valid.replace('"amount": 100', '"amount": 1, "amount": 100'),
        "lone surrogate": valid.replace('"other"', '"other\\udc00"'),
        "over 16 KiB": valid.replace('"other"', '"' + "x" * 17_000 + '"'),
        "1 MiB": b"[" + b"1," * 500_000 + b"1]",
    }
    for case, raw in hostile.items():
        status, answer = refund_raw(stack, raw, token)
        assert (status, answer["error_code"]) == (400, "VALIDATION_ERROR"), case
    assert refunded(stack, paid) == 0


def test_a_capture_moment_before_year_one_in_utc_is_400(stack: RunningStack) -> None:
    body = {
        "transaction_id": f"fc-{uuid.uuid4().hex[:10]}",
        "amount": 1_000,
        "currency": "USD",
        "status": "completed",
        "captured_at": "0001-01-01T00:00:00+14:00",
    }
    status, _, answer = stack.request("POST", "/transactions", body, token=stack.token())
    assert (status, answer["error_code"]) == (400, "VALIDATION_ERROR")
