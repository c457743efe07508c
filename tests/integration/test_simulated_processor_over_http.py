"""The simulated processor through the local stack, over HTTP: a slow processor raced by
reconciliation, and its signed webhooks settling what it decided late (SPEC 3.1, 5, 7)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.config import WEBHOOK_SECRET
from refund_service.adapters.processors import simulated_webhook
from refund_service.adapters.processors.simulated import DynamoDBSimulatorMemory
from tests.bench.stack import loopback_client, wait_for_banner
from tests.integration.conftest import RunningStack
from tests.integration.test_local_stack import new_payment, refund


@pytest.fixture(scope="module")
def processor_memory(stack: RunningStack) -> Iterator[DynamoDBSimulatorMemory]:
    """What the simulated processor remembers, read straight from the stack's DynamoDB."""
    dynamodb_url, _ = wait_for_banner(stack.log, stack)
    yield DynamoDBSimulatorMemory(loopback_client("dynamodb", dynamodb_url), "RefundIdempotency")


def payouts(memory: DynamoDBSimulatorMemory, transaction_id: str) -> dict[str, int]:
    """What the processor paid for a payment, per refund id."""
    now = datetime.now(UTC)
    decided = memory.decided_between(now - timedelta(hours=1), now + timedelta(hours=1))
    return {
        r.refund_id: r.amount
        for r in decided
        if r.transaction_id == transaction_id and r.payments == 1
    }


def test_a_slow_processor_raced_by_reconcile_pays_once_and_answers_200(
    stack: RunningStack, processor_memory: DynamoDBSimulatorMemory
) -> None:
    # Given a refund the processor takes 4 s to decide
    tid = new_payment(stack, amount=10_000)
    body = {"metadata": {"simulate_delay_ms": 4_000}}
    answered: dict[str, Any] = {}

    def ask() -> None:
        started = time.monotonic()
        answered["response"] = refund(stack, tid, 3_000, f"slow-{tid}", **body)
        answered["at"] = time.monotonic()
        answered["took"] = answered["at"] - started

    slow = threading.Thread(target=ask)
    slow.start()

    # When both reconciliations run three times while the processor is still deciding
    reports = []
    for _ in range(3):
        time.sleep(0.6)
        status, _, report = stack.request("POST", "/local/reconcile", token=stack.token())
        assert status == 200, report
        reports.append((time.monotonic(), report))
    slow.join(timeout=60)

    # Then every reconcile ran during the delay and voided nothing
    assert answered["took"] >= 4.0
    assert all(at < answered["at"] for at, _ in reports)
    for _, report in reports:
        assert f"{tid}-REFUND" not in report["pending_refunds"]["voided"]
        assert report["processor"]["supported"] is True
    # and the refund ends 200 with exactly what was asked, paid once
    status, _, created = answered["response"]
    assert status == 200, created
    assert (created["status"], created["amount"]) == ("success", 3_000)
    _, _, ledger = stack.request("GET", f"/transactions/{tid}/ledger", token=stack.token())
    assert ledger["summary"]["refunded_amount"] == 3_000
    assert payouts(processor_memory, tid) == {f"{tid}-REFUND": 3_000}

    # And the same request again under its key pays nothing more
    status, headers, again = refund(stack, tid, 3_000, f"slow-{tid}", **body)
    assert (status, headers.get("Idempotent-Replayed"), again) == (200, "true", created)
    _, _, ledger = stack.request("GET", f"/transactions/{tid}/ledger", token=stack.token())
    assert ledger["summary"]["refunded_amount"] == 3_000
    assert payouts(processor_memory, tid) == {f"{tid}-REFUND": 3_000}


def test_local_reconcile_answers_both_reports(stack: RunningStack) -> None:
    status, _, report = stack.request("POST", "/local/reconcile", token=stack.token())
    assert status == 200
    assert set(report) == {"pending_refunds", "processor"}
    assert {"examined", "succeeded", "voided", "still_pending"} <= set(report["pending_refunds"])
    assert {"supported", "listed", "agreed", "booked", "mismatches"} == set(report["processor"])
    assert report["processor"]["listed"] >= report["processor"]["agreed"]


def wait_for_status(stack: RunningStack, refund_id: str, wanted: str, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        _, _, view = stack.request("GET", f"/refunds/{refund_id}", token=stack.token())
        if view.get("status") == wanted or time.monotonic() > deadline:
            return view
        time.sleep(0.5)


def test_a_timeout_refund_is_settled_by_the_signed_webhook(stack: RunningStack) -> None:
    # Given a refund the processor approved but whose answer was lost
    tid = new_payment(stack, amount=5_000)
    status, _, answer = refund(stack, tid, 1_500, f"lost-{tid}", metadata={"simulate": "timeout"})
    assert (status, answer["status"]) == (202, "pending")

    # When the processor's webhook arrives (the reconciler's timer is an hour away)
    view = wait_for_status(stack, f"{tid}-REFUND", "success", seconds=30)

    # Then the webhook settled it
    assert view["status"] == "success", view
    _, _, trail = stack.request("GET", f"/transactions/{tid}/audit", token=stack.token())
    settled_by = {r["initiator"]["id"] for r in trail["records"] if r["action"] != "REFUND_PENDING"}
    assert "webhook:simulated" in settled_by, trail["records"]
    _, _, ledger = stack.request("GET", f"/transactions/{tid}/ledger", token=stack.token())
    assert ledger["summary"]["refunded_amount"] == 1_500


def post_webhook(stack: RunningStack, body: bytes, signature: str | None) -> tuple[int, Any]:
    headers = {simulated_webhook.SIGNATURE_HEADER: signature} if signature else {}
    status, _, answer = stack.request("POST", "/webhooks/simulated", raw=body, headers=headers)
    return status, answer


def test_unsigned_wrongly_signed_or_stale_webhooks_get_401_and_change_nothing(
    stack: RunningStack,
) -> None:
    # Given a refund the processor holds pending (it decides pending refunds after an hour)
    tid = new_payment(stack, amount=4_000)
    status, _, answer = refund(stack, tid, 1_000, f"held-{tid}", metadata={"simulate": "pending"})
    assert (status, answer["status"]) == (202, "pending")
    refund_id = f"{tid}-REFUND"
    now = int(time.time())
    body = simulated_webhook.event_body(
        refund_id=refund_id,
        transaction_id=tid,
        amount=1_000,
        currency="USD",
        code="APPROVED",
        reference=f"sim_{refund_id}",
        created=now,
    )
    before = [
        stack.request("GET", path, token=stack.token())[2]
        for path in (f"/transactions/{tid}/ledger", f"/transactions/{tid}/audit")
    ]

    # When the success is posted unsigned, signed under another secret, or signed too long ago
    refused = {
        "unsigned": post_webhook(stack, body, None),
        "wrong secret": post_webhook(
            stack, body, simulated_webhook.signature_header("whsec_other", now, body)
        ),
        "tampered": post_webhook(
            stack,
            body.replace(b'"amount":1000', b'"amount":4000'),
            simulated_webhook.signature_header(WEBHOOK_SECRET, now, body),
        ),
        "stale": post_webhook(
            stack, body, simulated_webhook.signature_header(WEBHOOK_SECRET, now - 600, body)
        ),
    }

    # Then each is refused with 401 and nothing changed
    for case, (status, answer) in refused.items():
        assert (status, answer.get("error_code")) == (401, "UNAUTHORIZED"), case
    after = [
        stack.request("GET", path, token=stack.token())[2]
        for path in (f"/transactions/{tid}/ledger", f"/transactions/{tid}/audit")
    ]
    assert after == before
    _, _, view = stack.request("GET", f"/refunds/{refund_id}", token=stack.token())
    assert view["status"] == "pending"

    # And the same body, signed now under the local secret, is accepted and settles it
    status, answer = post_webhook(
        stack, body, simulated_webhook.signature_header(WEBHOOK_SECRET, int(time.time()), body)
    )
    assert status == 200, answer
    assert wait_for_status(stack, refund_id, "success", seconds=5)["status"] == "success"
