"""The verification sweep: parallel Scan segments, stopped by its budget, resumed, complete."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from refund_service.adapters.dynamodb.coordination import DynamoDBCheckpoints
from refund_service.adapters.dynamodb.segment_scan import DynamoDBSegmentScanner
from refund_service.service import verification
from refund_service.service.verification import Sweep
from tests.support.world import MutableClock, World, make_world

TRANSACTIONS = 60


@pytest.fixture
def world(local_dynamodb: Any) -> World:
    return make_world(local_dynamodb, MutableClock(), suffix=f"-{uuid.uuid4().hex[:8]}")


class PageBudget:
    """Time that runs out after `pages` pages have started, across all threads."""

    def __init__(self, pages: int):
        self.left = pages
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.left -= 1
            return 100.0 if self.left >= 0 else 0.0


def sweep(world: World, budget: PageBudget) -> Sweep:
    return Sweep(
        world.store,
        DynamoDBSegmentScanner(world.client, world.tables["PaymentLedger"]),
        DynamoDBCheckpoints(world.client, world.tables["Idempotency"]),
        segments=4,
        workers=4,
        time_left=budget,
        per_page=1.0,
    )


def test_a_stopped_sweep_resumes_and_checks_every_transaction_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verification, "PAGE", 10)
    ids = [world.pay(amount=100 + n) for n in range(TRANSACTIONS)]
    corrupted = ids[17]
    world.client.update_item(
        TableName=world.tables["PaymentLedger"],
        Key={"pk": {"S": f"TXN#{corrupted}"}, "sk": {"S": "HEAD"}},
        UpdateExpression="SET summary.captured_amount = :wrong",
        ExpressionAttributeValues={":wrong": {"N": "1"}},
    )

    first = sweep(world, PageBudget(pages=3)).run("2026-11-28")
    second = sweep(world, PageBudget(pages=1_000)).run("2026-11-28")
    third = sweep(world, PageBudget(pages=1_000)).run("2026-11-28")

    assert not first.complete and 0 < first.checked_now < TRANSACTIONS
    assert second.complete
    assert first.checked_now + second.checked_now == second.checked == TRANSACTIONS
    found = [f.transaction_id for f in first.failures + second.failures]
    assert found == [corrupted] and second.mismatched == 1
    assert third.checked_now == 0 and third.complete  # done for the day: only checkpoints read


def test_the_next_day_is_a_new_sweep(world: World) -> None:
    for n in range(5):
        world.pay(amount=100 + n)
    sweep(world, PageBudget(pages=1_000)).run("2026-11-28")

    next_day = sweep(world, PageBudget(pages=1_000)).run("2026-11-29")

    assert next_day.complete and next_day.checked_now == 5
