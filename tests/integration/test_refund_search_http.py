"""Refund search and the daily report over HTTP against the local stack (SPEC section 4.1)."""

from __future__ import annotations

import base64
import csv
import io
import json
import uuid
from collections import defaultdict
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration.conftest import RunningStack

FIGURES = ("amount", "tax_amount", "fee_amount", "fx_adjustment_amount")


def get(stack: RunningStack, path: str, **params: Any) -> tuple[int, Any]:
    query = f"?{urlencode(params)}" if params else ""
    status, _, body = stack.request("GET", path + query, token=stack.token("refunds:read"))
    return status, body


def every_page(stack: RunningStack, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    status, page = get(stack, "/refunds", **params)
    assert status == 200, page
    found += page["refunds"]
    while page["next_cursor"]:
        status, page = get(stack, "/refunds", **params, cursor=page["next_cursor"])
        assert status == 200, page
        found += page["refunds"]
    return found


def pay(stack: RunningStack, currency: str = "USD", **extra: Any) -> str:
    transaction_id = f"search-{uuid.uuid4().hex[:10]}"
    body = {
        "transaction_id": transaction_id,
        "amount": 100_000,
        "currency": currency,
        "status": "completed",
        "tax_amount": 8_000,
        **extra,
    }
    status, _, answer = stack.request("POST", "/transactions", body, token=stack.token())
    assert status == 201, answer
    return transaction_id


def refund(stack: RunningStack, transaction_id: str, amount: int, simulate: str = "approve") -> str:
    body = {
        "transaction_id": transaction_id,
        "amount": amount,
        "reason": "other",
        "metadata": {"simulate": simulate},
    }
    key = {"Idempotency-Key": uuid.uuid4().hex}
    status, _, answer = stack.request("POST", "/refunds", body, token=stack.token(), headers=key)
    assert status in (200, 202, 422), answer
    return str(answer["refund_transaction_id"])


@pytest.fixture(scope="module")
def made(stack: RunningStack) -> dict[str, Any]:
    """Seven refunds on one payment, and refunds of every status in three currencies."""
    transaction_id = pay(stack)
    ours = [refund(stack, transaction_id, 1_000 + n) for n in range(7)]
    statuses: dict[str, str] = {}
    for currency, extra in (
        ("USD", {}),
        ("EUR", {"settlement_currency": "USD", "fx_rate": "1.05"}),
        ("JPY", {}),
    ):
        for simulate, status in (("approve", "success"), ("pending", "pending")):
            statuses[refund(stack, pay(stack, currency, **extra), 2_000, simulate)] = status
        statuses[refund(stack, pay(stack, currency, **extra), 3_000, "decline")] = "failed"
        rolled = refund(stack, pay(stack, currency, **extra), 4_000)
        answer = stack.request(
            "POST", f"/refunds/{rolled}/rollback", {"reason": "test"}, token=stack.token()
        )
        assert answer[0] == 200, answer
        statuses[rolled] = "rolled_back"
    return {"transaction_id": transaction_id, "ours": ours, "statuses": statuses}


def test_limit_3_pages_return_each_of_a_transactions_refunds_once(
    stack: RunningStack, made: dict[str, Any]
) -> None:
    found = every_page(stack, transaction_id=made["transaction_id"], limit=3)
    ids = [r["refund_transaction_id"] for r in found]
    assert sorted(ids) == sorted(made["ours"]) and len(ids) == 7
    assert [(r["created_at"], r["refund_transaction_id"]) for r in found] == sorted(
        ((r["created_at"], r["refund_transaction_id"]) for r in found), reverse=True
    )


def test_the_status_filter_selects_exactly_that_status(
    stack: RunningStack, made: dict[str, Any]
) -> None:
    for status in ("success", "pending", "failed", "rolled_back"):
        found = every_page(stack, status=status, limit=3)
        assert {r["status"] for r in found} == {status}
        expected = {ref for ref, s in made["statuses"].items() if s == status}
        assert expected <= {r["refund_transaction_id"] for r in found}


def test_time_filters_select_exactly_the_refunds_in_range(
    stack: RunningStack, made: dict[str, Any]
) -> None:
    ours = every_page(stack, transaction_id=made["transaction_id"], limit=100)
    times = sorted({r["created_at"] for r in ours})
    assert len(times) >= 3
    low, high = times[1], times[-1]
    found = every_page(
        stack, transaction_id=made["transaction_id"], created_from=low, created_to=high, limit=2
    )
    expected = {r["refund_transaction_id"] for r in ours if low <= r["created_at"] < high}
    assert {r["refund_transaction_id"] for r in found} == expected
    everywhere = every_page(stack, created_from=low, created_to=high, limit=5)
    assert expected <= {r["refund_transaction_id"] for r in everywhere}
    assert all(low <= r["created_at"] < high for r in everywhere)


def test_a_forged_or_garbage_cursor_is_400(stack: RunningStack, made: dict[str, Any]) -> None:
    _, page = get(stack, "/refunds", transaction_id=made["transaction_id"], limit=3)
    genuine = page["next_cursor"]
    payload = json.loads(base64.urlsafe_b64decode(genuine + "=" * (-len(genuine) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**payload, "f": "f" * 24}).encode()).decode()
    for cursor in ("garbage", forged, genuine[:-2]):
        status, body = get(
            stack, "/refunds", transaction_id=made["transaction_id"], limit=3, cursor=cursor
        )
        assert (status, body["error_code"]) == (400, "VALIDATION_ERROR"), cursor
    status, body = get(stack, "/refunds", status="success", limit=3, cursor=genuine)
    assert (status, body["error_code"]) == (400, "VALIDATION_ERROR")


def test_the_report_equals_the_search_sums_and_parses_as_csv(
    stack: RunningStack, made: dict[str, Any]
) -> None:
    days = {r["created_at"][:10] for r in every_page(stack, limit=100)}
    for day in days:
        status, report = get(stack, "/reports/refunds", date=day)
        assert status == 200, report
        sums: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIGURES, 0))
        counts: dict[tuple[str, str], int] = defaultdict(int)
        next_day = _next_day(day)
        for found in every_page(stack, created_from=day, created_to=next_day, limit=50):
            key = (found["currency"], found["status"])
            counts[key] += 1
            for name in FIGURES:
                sums[key][name] += found[name]
        rows = {(r["currency"], r["status"]): r for r in report["rows"]}
        assert rows.keys() == sums.keys()
        for key, row in rows.items():
            assert row["count"] == counts[key]
            assert {name: row[name] for name in FIGURES} == sums[key]
        status, headers, text = stack.request(
            "GET",
            f"/reports/refunds?date={day}",
            token=stack.token("refunds:read"),
            headers={"Accept": "text/csv"},
        )
        assert status == 200 and headers["Content-Type"].startswith("text/csv")
        parsed = list(csv.DictReader(io.StringIO(text)))
        assert parsed == [{k: str(v) for k, v in row.items()} for row in report["rows"]]


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
