"""Attacks on the history-independent reads of a refund (decision 0025), on DynamoDB Local."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from refund_service.domain.errors import DomainError
from refund_service.domain.refund import RefundReason
from refund_service.service.queries import verify_transaction
from refund_service.service.refunds import RefundCommand, request_refund
from tests.support.world import USER, World


def test_concurrent_first_uses_of_one_key_all_answer_with_one_refund(world: World) -> None:
    # Rounds of THREADS requests for all of a payment under one key, until one is refused or
    # the time is up: the mix of reads is a race, each round rarely loses it
    refused: list[str] = []
    deadline = time.monotonic() + SECONDS
    while not refused and time.monotonic() < deadline:
        tid = world.pay(amount=10_000)
        barrier = threading.Barrier(THREADS)

        def ask(_: int, tid: str = tid, barrier: threading.Barrier = barrier) -> Any:
            barrier.wait()
            command = RefundCommand(tid, RefundReason.OTHER, 10_000, idempotency_key="k")
            try:
                return request_refund(world.services, command, USER).refund.refund_id
            except DomainError as error:
                return error.code.value

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            answers = list(pool.map(ask, range(THREADS)))
        # Money held: one payout, a ledger that verifies; only the answers are wrong
        paid = {r: n for r, n in world.memory.payments().items() if r.startswith(tid)}
        assert paid == {f"{tid}-REFUND": 1}
        assert verify_transaction(world.store, tid).ok
        refused += [a for a in answers if a != f"{tid}-REFUND"]
    assert refused == []


SECONDS = 150.0
THREADS = 6
