"""Races on one payment, against DynamoDB Local (moto loses transactional writes under load)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from refund_service.api.errors import ApiError
from refund_service.api.refund_creation import RefundCreator
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.processor import ProcessorRefundRequest, ProcessorResult
from refund_service.domain.refund import RefundReason
from refund_service.service.queries import verify_transaction
from refund_service.service.refunds import RefundCommand, request_refund
from tests.support.lambda_context import FakeLambdaContext
from tests.support.world import USER, World


def run_all(count: int, task: Any) -> list[Any]:
    barrier = threading.Barrier(count)

    def one(i: int) -> Any:
        barrier.wait()
        try:
            return task(i)
        except (DomainError, ApiError) as error:
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_fifty_concurrent_partial_refunds_never_over_refund(world: World) -> None:
    # Given a payment of 20,000 and 50 clients each asking for 1/20 of it at once
    tid = world.pay(amount=20_000, tax=3_000)

    def ask(_: int) -> Any:
        command = RefundCommand(tid, RefundReason.REQUESTED_BY_CUSTOMER, 1_000)
        return request_refund(world.services, command, USER)

    results = run_all(50, ask)
    # Then exactly 20 succeed and every other one is told nothing is left
    succeeded = [r for r in results if not isinstance(r, Exception)]
    refused = Counter(r.code for r in results if isinstance(r, DomainError))
    assert len(succeeded) == 20, refused
    assert set(refused) <= {ErrorCode.ALREADY_REFUNDED, ErrorCode.AMOUNT_EXCEEDS_REFUNDABLE}
    assert sum(refused.values()) == 30
    state = world.store.load(tid)
    assert state.summary.refunded_amount == 20_000
    assert state.summary.tax_refunded_amount == 3_000
    assert len({o.refund.refund_id for o in succeeded}) == 20
    assert sum(world.memory.payments().values()) == 20
    verification = verify_transaction(world.store, tid)
    assert verification.ok, verification


class CountingProcessor:
    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        with self._lock:
            self.calls[request.refund_id] += 1
        time.sleep(0.05)  # keep the first request in flight while the others arrive
        result: ProcessorResult = self.inner.refund(request)
        return result

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        found: ProcessorResult | None = self.inner.lookup(request)
        return found


def test_twenty_identical_requests_with_one_key_make_one_refund(
    world: World, local_dynamodb: Any
) -> None:
    tid = world.pay(amount=5_000)
    processor = CountingProcessor(world.services.processor)
    world.services.processor = processor
    creator = RefundCreator(world.services, world.tables["Idempotency"], local_dynamodb)
    body = {"transaction_id": tid, "amount": 1_500, "reason": "duplicate"}

    context = FakeLambdaContext()
    results = run_all(20, lambda _: creator.create(USER, "key-1", dict(body), context))

    answers = [r for r in results if not isinstance(r, Exception)]
    in_progress = [r for r in results if isinstance(r, ApiError)]
    assert processor.calls == Counter({f"{tid}-REFUND": 1})
    assert all(r.body["error_code"] == "IDEMPOTENCY_IN_PROGRESS" for r in in_progress)
    assert sum(1 for _, _, replayed in answers if not replayed) == 1
    assert {status for status, _, _ in answers} == {200}
    assert {body["refund_transaction_id"] for _, body, _ in answers} == {f"{tid}-REFUND"}
    summary = world.store.load(tid).summary
    assert summary.refunded_amount == 1_500 and summary.refund_count == 1
    # and once finished, the same key replays the stored answer
    status, replay, replayed = creator.create(USER, "key-1", dict(body), context)
    assert (status, replayed, replay["refund_transaction_id"]) == (200, True, f"{tid}-REFUND")
