"""The scheduled reconciler: new refunds first, the backlog in turn, within its time budget,
never two runs at once."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

import pytest

from refund_service.adapters.dynamodb.coordination import DynamoDBCheckpoints, DynamoDBLease
from refund_service.adapters.dynamodb.pending_window import DynamoDBPendingWindow
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRequest,
    ProcessorResult,
    normalized,
)
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.service.reconciler import Budget, ReconcileReport, reconcile_in_turn
from refund_service.service.refunds import RefundCommand, request_refund
from tests.support.world import USER, MutableClock, World, make_world

RUN_SECONDS = 240.0
LOOKUP_SECONDS = 1.0
PER_REFUND_SECONDS = 25.0


@pytest.fixture
def world(local_dynamodb: Any) -> World:
    return make_world(local_dynamodb, MutableClock(), suffix=f"-{uuid.uuid4().hex[:8]}")


class SlowProcessor:
    """The simulated processor, except that the refunds in `undecided` stay pending when
    looked up (as Adyen's do until their webhook comes), and every lookup takes time."""

    def __init__(self, inner: Any, undecided: set[str]):
        self.inner = inner
        self.name = inner.name
        self.undecided = undecided
        self.elapsed = 0.0
        self.lookups: list[str] = []

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        result: ProcessorResult = self.inner.refund(request)
        return result

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        self.elapsed += LOOKUP_SECONDS
        self.lookups.append(request.refund_id)
        if request.refund_id in self.undecided:
            return normalized(ProcessorCode.PENDING, self.name)
        found: ProcessorResult | None = self.inner.lookup(request)
        return found


def pending_refund(world: World) -> str:
    transaction_id = world.pay(amount=1_000)
    command = RefundCommand(
        transaction_id, RefundReason.REQUESTED_BY_CUSTOMER, 100, metadata={"simulate": "pending"}
    )
    return request_refund(world.services, command, USER).refund.refund_id


def run(world: World, processor: SlowProcessor) -> ReconcileReport:
    started = processor.elapsed
    return reconcile_in_turn(
        world.services,
        DynamoDBPendingWindow(world.client, world.tables["PaymentLedger"]),
        DynamoDBCheckpoints(world.client, world.tables["Idempotency"]),
        older_than=timedelta(minutes=5),
        stale_after=timedelta(hours=24),
        budget=Budget(lambda: RUN_SECONDS - (processor.elapsed - started), PER_REFUND_SECONDS),
    )


def test_300_long_pending_refunds_do_not_starve_a_new_one(world: World) -> None:
    long_pending = {pending_refund(world) for _ in range(300)}
    processor = SlowProcessor(world.services.processor, long_pending)
    world.services.processor = processor
    world.clock.advance(days=2)
    first = run(world, processor)

    new = pending_refund(world)
    world.clock.advance(minutes=6)
    second = run(world, processor)

    # a refund starts only while more than PER_REFUND_SECONDS are left
    fits_in_a_run = math.ceil((RUN_SECONDS - PER_REFUND_SECONDS) / LOOKUP_SECONDS)
    assert first.examined == fits_in_a_run < 300
    assert second.succeeded == [new]
    assert processor.lookups[first.examined] == new  # the new one first, then the backlog
    assert second.examined == 1 + 300 - first.examined  # the rest of the backlog, once
    assert set(processor.lookups) == long_pending | {new}  # the backlog went on where it was
    settled = world.store.load(world.store.find_refund(new) or "").refunds[new]
    assert settled.status is RefundStatus.SUCCESS


def test_the_backlog_wraps_round_and_each_run_stays_within_its_budget(world: World) -> None:
    long_pending = {pending_refund(world) for _ in range(12)}
    processor = SlowProcessor(world.services.processor, long_pending)
    world.services.processor = processor
    world.clock.advance(days=2)
    budget_for_five = PER_REFUND_SECONDS + 5 * LOOKUP_SECONDS

    def small_run() -> ReconcileReport:
        started = processor.elapsed
        return reconcile_in_turn(
            world.services,
            DynamoDBPendingWindow(world.client, world.tables["PaymentLedger"]),
            DynamoDBCheckpoints(world.client, world.tables["Idempotency"]),
            older_than=timedelta(minutes=5),
            stale_after=timedelta(hours=1),
            budget=Budget(
                lambda: budget_for_five - (processor.elapsed - started), PER_REFUND_SECONDS
            ),
        )

    examined = [small_run().examined for _ in range(4)]

    assert examined == [5, 5, 2, 5]  # 12 in turn, then round again from the oldest
    assert processor.lookups[:12] == sorted(processor.lookups[:12], key=processor.lookups.index)
    assert set(processor.lookups[:12]) == long_pending
    assert processor.lookups[12:17] == processor.lookups[:5]


def test_a_run_never_overlaps_one_still_holding_the_lease(world: World) -> None:
    lease = DynamoDBLease(world.client, world.tables["Idempotency"], "reconciler")

    assert lease.acquire("first", 255, now=1_000)
    assert not lease.acquire("second", 255, now=1_100)
    assert lease.acquire("second", 255, now=1_300)  # the first ran out without releasing
    lease.release("first")  # too late: the lease is the second run's now
    assert not lease.acquire("third", 255, now=1_400)
    lease.release("second")
    assert lease.acquire("third", 255, now=1_401)
