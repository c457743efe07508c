"""Issue 12, finding 3 over HTTP against the local stack: identical refusals are counted, not
each stored, and ledger and audit reads come in pages that a cursor walks."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.conftest import RunningStack

REPEATS = 40


@pytest.fixture(scope="module")
def refused_often(stack: RunningStack) -> str:
    """A payment refused REPEATS times for the same too-large amount, each under a new key."""
    tid = f"lh-{uuid.uuid4().hex[:10]}"
    body = {"transaction_id": tid, "amount": 10_000, "currency": "USD", "status": "completed"}
    status, _, answer = stack.request("POST", "/transactions", body, token=stack.token())
    assert status == 201, answer
    refund = {"transaction_id": tid, "amount": 20_000, "reason": "other"}
    for attempt in range(REPEATS):
        headers = {"Idempotency-Key": f"lh-{attempt}"}
        status, _, answer = stack.request(
            "POST", "/refunds", refund, token=stack.token(), headers=headers
        )
        assert (status, answer["error_code"]) == (422, "AMOUNT_EXCEEDS_REFUNDABLE")
    return tid


def walk(stack: RunningStack, path: str, limit: int) -> list[dict[str, Any]]:
    pages, cursor = [], None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, _, body = stack.request("GET", path + query, token=stack.token())
        assert status == 200, body
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_identical_refusals_leave_a_few_records_and_say_how_many(
    stack: RunningStack, refused_often: str
) -> None:
    status, _, body = stack.request(
        "GET", f"/transactions/{refused_often}/audit", token=stack.token()
    )
    assert status == 200
    rejected = [r for r in body["records"] if r["action"] == "REFUND_REJECTED"]
    # the first in full, then at 2, 4, 8, 16, 32
    assert [r["details"].get("repeated", 1) for r in rejected] == [1, 2, 4, 8, 16, 32]
    assert len(body["records"]) <= 12
    (tally,) = body["repeated_refusals"]
    assert (tally["count"], tally["recorded"]) == (REPEATS, 32)
    assert body["chain"]["valid"] is True


def test_the_audit_trail_walks_page_by_page(stack: RunningStack, refused_often: str) -> None:
    path = f"/transactions/{refused_often}/audit"
    _, _, whole = stack.request("GET", path, token=stack.token())
    pages = walk(stack, path, 3)
    assert [r["seq"] for page in pages for r in page["records"]] == [
        r["seq"] for r in whole["records"]
    ]
    assert len(pages) > 2 and all(page["chain"] == whole["chain"] for page in pages)


def test_a_made_up_cursor_is_a_validation_error(stack: RunningStack, refused_often: str) -> None:
    for listing in ("ledger", "audit"):
        status, _, body = stack.request(
            "GET",
            f"/transactions/{refused_often}/{listing}?cursor=not-a-cursor",
            token=stack.token(),
        )
        assert (status, body["error_code"]) == (400, "VALIDATION_ERROR")
