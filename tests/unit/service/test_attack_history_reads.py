"""Attacks on the history-independent reads of a refund (decision 0025).

Single-threaded, on moto through the real DynamoDB store. A reservation reads its head and its
key's pointer in one BatchGetItem, two reads that a real table may answer from either side of
another request's commit. The client is wrapped so that the batch reads one item, another
request commits, then the batch reads the other: in both orders, made deterministic. (A
pointer read before a reservation its head already held once let a request be refused for the
amount its own key had refunded: a keyed refusal now commits only while the pointer is as it
read it.)
"""

from __future__ import annotations

import pytest

from refund_service.api.errors import ApiError
from refund_service.api.refund_creation import RefundCreator
from refund_service.domain.processor import (
    ProcessorCode,
    normalized,
)
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.service.queries import verify_transaction
from refund_service.service.refunds import RefundCommand, RefundOutcome, request_refund
from refund_service.service.settlement import settle
from tests.support.interleavings import CommitWithinBatchRead, UnreachableFor
from tests.support.lambda_context import FakeLambdaContext
from tests.support.world import USER, World

KEY = "key-attack"


def refund(world: World, tid: str, amount: int | None, key: str = KEY) -> RefundOutcome:
    command = RefundCommand(tid, RefundReason.OTHER, amount, idempotency_key=key)
    return request_refund(world.services, command, USER)


@pytest.mark.parametrize("first_read", ["HEAD", "KEY"])
def test_a_same_key_request_whose_first_reservation_commits_between_its_reads_resumes_it(
    world: World, first_read: str
) -> None:
    # Given a payment, and two requests under one key for all of it
    tid = world.pay(amount=10_000)
    first: list[RefundOutcome] = []
    store = world.store
    # When the second's batch reads one of head and pointer, then the first commits and is
    # paid, then the batch reads the other
    client = CommitWithinBatchRead(
        store._client, lambda: first.append(refund(world, tid, 10_000)), first_read
    )
    store._client = client
    second = refund(world, tid, 10_000)
    assert client.between is None  # the commit did fall between the two reads
    # Then the second resumes the first's refund, as one Query of the partition did
    assert first[0].refund.status is RefundStatus.SUCCESS
    assert second.refund.refund_id == first[0].refund.refund_id
    assert world.memory.payments() == {first[0].refund.refund_id: 1}


@pytest.mark.parametrize("first_read", ["HEAD", "KEY"])
def test_a_retry_reading_a_pointer_that_just_moved_resumes_the_new_refund(
    world: World, first_read: str
) -> None:
    # Given a refund under a key that failed retryably: nothing reached the processor
    tid = world.pay(amount=10_000)
    world.services.processor = UnreachableFor(world.services.processor, 1)  # type: ignore[assignment]
    failed = refund(world, tid, 10_000)
    assert failed.refund.status is RefundStatus.FAILED
    # When two retries run, the first moving the pointer between the second's two reads
    moved: list[RefundOutcome] = []
    store = world.store
    client = CommitWithinBatchRead(
        store._client, lambda: moved.append(refund(world, tid, 10_000)), first_read
    )
    store._client = client
    second = refund(world, tid, 10_000)
    assert client.between is None
    # Then the second resumes the first retry's refund
    assert moved[0].refund.status is RefundStatus.SUCCESS
    assert second.refund.refund_id == moved[0].refund.refund_id


def test_a_key_whose_old_refund_was_paid_late_never_pays_again(world: World) -> None:
    # Given a key whose first refund and first retry both failed retryably (unreachable)
    tid = world.pay(amount=10_000)
    world.services.processor = UnreachableFor(world.services.processor, 2)  # type: ignore[assignment]
    old = refund(world, tid, 4_000)
    newer = refund(world, tid, 4_000)
    assert old.refund.refund_id != newer.refund.refund_id
    assert {old.refund.status, newer.refund.status} == {RefundStatus.FAILED}
    # And the processor pays the first after all, which the ledger books (as a webhook does)
    paid = normalized(ProcessorCode.APPROVED, world.services.processor.name)
    late, _ = settle(world.services, tid, old.refund.refund_id, paid, USER)
    assert late.status is RefundStatus.SUCCESS
    # When the client retries under the same key
    again = refund(world, tid, 4_000)
    # Then it is answered with the paid refund, and nothing more is refunded
    summary = world.store.load(tid).summary
    assert verify_transaction(world.store, tid).ok
    assert again.refund.refund_id == old.refund.refund_id, (
        f"sent {again.refund.refund_id}; paid {world.memory.payments()}"
    )
    assert summary.refunded_amount == 4_000


def test_through_the_api_a_key_whose_first_refund_was_paid_late_pays_once(world: World) -> None:
    # Given two requests under one Idempotency-Key answered 503: nothing reached the processor
    tid = world.pay(amount=10_000)
    world.services.processor = UnreachableFor(world.services.processor, 2)  # type: ignore[assignment]
    creator = RefundCreator(world.services, world.tables["Idempotency"], world.client)
    context = FakeLambdaContext()
    body = {"transaction_id": tid, "amount": 4_000, "reason": "other"}
    for _ in range(2):
        with pytest.raises(ApiError) as unavailable:
            creator.create(USER, "key-api", dict(body), context)
        assert unavailable.value.body["error_code"] == "PROCESSOR_UNAVAILABLE"
    # And the processor pays the first refund after all, which the ledger books
    first = f"{tid}-REFUND"
    paid = normalized(ProcessorCode.APPROVED, world.services.processor.name)
    assert settle(world.services, tid, first, paid, USER)[0].status is RefundStatus.SUCCESS
    # When the client sends the request a third time
    status, answer, _ = creator.create(USER, "key-api", dict(body), context)
    # Then it is told about the paid refund, and the payment is refunded once
    assert (status, answer["refund_transaction_id"]) == (200, first), world.memory.payments()
    assert world.store.load(tid).summary.refunded_amount == 4_000
