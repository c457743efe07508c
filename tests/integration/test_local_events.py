"""`GET /local/events`: the refund events of the local stack, from DynamoDB Local's stream."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.integration.conftest import RunningStack


def _events(stack: RunningStack, after: str | None = None) -> list[dict[str, Any]]:
    path = "/local/events" + (f"?after={after}" if after else "")
    status, _, answer = stack.request("GET", path, token=stack.token())
    assert status == 200, answer
    events: list[dict[str, Any]] = answer["events"]
    return events


def _of(stack: RunningStack, tid: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        mine = [e for e in _events(stack) if e["detail"]["transaction_id"] == tid]
        if len(mine) >= count or time.monotonic() > deadline:
            return mine
        time.sleep(0.3)


def test_a_refund_is_published_as_its_events_in_ledger_order(stack: RunningStack) -> None:
    tid = f"ev-{uuid.uuid4().hex[:10]}"
    body = {"transaction_id": tid, "amount": 5_000, "currency": "USD", "status": "completed"}
    assert stack.request("POST", "/transactions", body, token=stack.token())[0] == 201
    refund = {"transaction_id": tid, "amount": 1_200, "reason": "requested_by_customer"}
    status, _, answer = stack.request(
        "POST", "/refunds", refund, token=stack.token(), headers={"Idempotency-Key": tid}
    )
    assert status == 200, answer

    mine = _of(stack, tid, 3)

    assert [e["detail_type"] for e in mine] == [
        "payment.recorded",
        "refund.pending",
        "refund.succeeded",
    ]
    assert mine[-1]["detail"]["amount"] == 1_200
    assert mine[-1]["detail"]["refund_id"] == answer["refund_transaction_id"]
    later = _events(stack, after=mine[0]["event_id"])
    assert [e["event_id"] for e in later[:2]] == [e["event_id"] for e in mine[1:]]


def test_events_need_a_local_token(stack: RunningStack) -> None:
    status, _, _ = stack.request("GET", "/local/events")

    assert status == 401
