"""Attacks on reading a refund's head and its key's pointer in one BatchGetItem (decision 0025).

Single-threaded, on moto through the real DynamoDB store. The two reads of the batch are made
to fall on either side of another request's commit (`CommitWithinBatchRead`), or the batch is
answered in part and the rest left as UnprocessedKeys until another request has committed
(`CommitBeforeUnprocessedKeys`). Each test asserts what the client is told and what the
simulated processor paid: one payout per key, and no request refused the amount its own key
refunded. These add to tests/unit/service/test_attack_history_reads.py the paths it does not
take: a reservation (not a refusal) decided on an older pointer, a repeated refusal that only
counts, the batch's UnprocessedKeys retry, and payments recorded before pointers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from refund_service.adapters.dynamodb import codec
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRequest,
    ProcessorResult,
    normalized,
)
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.service.queries import verify_transaction
from refund_service.service.refunds import RefundCommand, RefundOutcome, request_refund
from refund_service.service.settlement import rollback_refund, settle
from tests.support.interleavings import CommitWithinBatchRead, ProcessorFor, UnreachableFor
from tests.support.world import USER, World

KEY = "key-one-batch"


def refund(world: World, tid: str, amount: int | None, key: str | None = KEY) -> RefundOutcome:
    command = RefundCommand(tid, RefundReason.OTHER, amount, idempotency_key=key)
    return request_refund(world.services, command, USER)


def commit_between_reads(world: World, between: Callable[[], None], first: str) -> Any:
    client = CommitWithinBatchRead(world.store._client, between, first)
    world.store._client = client
    return client


class CommitBeforeUnprocessedKeys:
    """The ledger's client, except that the next batch read of a head with a key pointer
    answers only `first` ("HEAD" or "KEY") and leaves the other as UnprocessedKeys, as a
    throttled table does; another request commits (`between`) before the store asks again."""

    def __init__(self, inner: Any, between: Callable[[], None], first: str):
        self.inner, self.first = inner, first
        self.between: Callable[[], None] | None = between
        self.unprocessed_answers = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def batch_get_item(self, **kwargs: Any) -> dict[str, Any]:
        [(table, request)] = kwargs["RequestItems"].items()
        kinds = sorted(key["sk"]["S"].split("#")[0] for key in request["Keys"])
        if self.between is None or kinds != ["HEAD", "KEY"]:
            answer: dict[str, Any] = self.inner.batch_get_item(**kwargs)
            return answer
        between, self.between = self.between, None
        read = [k for k in request["Keys"] if k["sk"]["S"].split("#")[0] == self.first]
        left = [k for k in request["Keys"] if k["sk"]["S"].split("#")[0] != self.first]
        found = self.inner.batch_get_item(RequestItems={table: {**request, "Keys": read}})
        between()
        self.unprocessed_answers += 1
        return {
            "Responses": found.get("Responses", {}),
            "UnprocessedKeys": {table: {**request, "Keys": left}},
        }


class PendingFor(ProcessorFor):
    """The world's processor, answering the next `times` refunds pending without deciding
    them (nothing paid, nothing recorded): the refund holds its amount until it is settled."""

    def answer(self, request: ProcessorRefundRequest) -> ProcessorResult:
        return normalized(ProcessorCode.PENDING, self.name)


def paid_for(world: World, tid: str) -> dict[str, int]:
    return {r: n for r, n in world.memory.payments().items() if r.startswith(tid)}


# --- a reservation decided on an older pointer ------------------------------------------------


@pytest.mark.parametrize("first_read", ["HEAD", "KEY"])
def test_a_same_key_request_with_room_left_resumes_the_refund_committed_between_its_reads(
    world: World, first_read: str
) -> None:
    # Given a payment with room for two refunds of the amount, and two requests under one key
    tid = world.pay(amount=10_000)
    first: list[RefundOutcome] = []
    # When the first commits and is paid between the second's read of the head and of the
    # pointer: read KEY first, the second sees no refund under its key and 6 000 still left
    client = commit_between_reads(
        world, lambda: first.append(refund(world, tid, 4_000)), first_read
    )
    second = refund(world, tid, 4_000)
    assert client.between is None
    # Then its reservation fails on the pointer it read and it resumes the first's refund:
    # one payout for the key, not two
    assert second.refund.refund_id == first[0].refund.refund_id
    assert paid_for(world, tid) == {first[0].refund.refund_id: 1}
    assert world.store.load(tid).summary.refunded_amount == 4_000
    assert verify_transaction(world.store, tid).ok


@pytest.mark.parametrize("first_read", ["HEAD", "KEY"])
def test_a_retry_with_room_left_never_reserves_past_a_pointer_that_moved_between_its_reads(
    world: World, first_read: str
) -> None:
    # Given a refund under the key that failed retryably: nothing reached the processor
    tid = world.pay(amount=10_000)
    world.services.processor = UnreachableFor(world.services.processor, 1)  # type: ignore[assignment]
    failed = refund(world, tid, 4_000)
    assert failed.refund.status is RefundStatus.FAILED
    # When one retry moves the pointer between the other retry's two reads: read KEY first,
    # the other sees the failed refund, retries it too, and has room for it
    moved: list[RefundOutcome] = []
    client = commit_between_reads(
        world, lambda: moved.append(refund(world, tid, 4_000)), first_read
    )
    second = refund(world, tid, 4_000)
    assert client.between is None
    # Then its reservation, conditional on the failed refund, does not commit: it resumes
    assert second.refund.refund_id == moved[0].refund.refund_id
    assert paid_for(world, tid) == {moved[0].refund.refund_id: 1}
    assert world.store.load(tid).summary.refunded_amount == 4_000
    assert verify_transaction(world.store, tid).ok


# --- a repeated refusal that only counts ------------------------------------------------------


def test_a_repeated_refusal_that_only_counts_is_not_committed_on_an_older_pointer(
    world: World,
) -> None:
    # Given a payment of 8 000 whose refund of 6 000 is pending, and two identical requests for
    # 5 000 under other keys refused for it: a tally of 2 on the head
    tid = world.pay(amount=8_000)
    world.services.processor = PendingFor(world.services.processor, 1)  # type: ignore[assignment]
    holding = refund(world, tid, 6_000, key="key-holding")
    assert holding.refund.status is RefundStatus.PENDING
    for other in ("key-y1", "key-y2"):
        with pytest.raises(DomainError) as refused:
            refund(world, tid, 5_000, key=other)
        assert refused.value.code is ErrorCode.AMOUNT_EXCEEDS_REFUNDABLE
    [tally] = world.store.load(tid).head.repeats.values()
    assert tally.count == 2
    # And the pending refund is declined after all: 8 000 refundable again
    declined = normalized(ProcessorCode.DECLINED, world.services.processor.name)
    assert settle(world.services, tid, holding.refund.refund_id, declined, USER)[0].status is (
        RefundStatus.FAILED
    )
    # When a request for 5 000 under KEY commits and is paid between the reads of the same
    # request's retry, which reads the pointer first: it sees no refund under its key and
    # 3 000 left, the same refusal a third time, which only counts on the head
    first: list[RefundOutcome] = []
    client = commit_between_reads(world, lambda: first.append(refund(world, tid, 5_000)), "KEY")
    second = refund(world, tid, 5_000)
    assert client.between is None
    # Then the count does not commit on the pointer it read: the retry resumes its key's refund
    assert second.refund.refund_id == first[0].refund.refund_id
    assert second.refund.status is RefundStatus.SUCCESS
    assert world.store.load(tid).head.repeats[tally.fingerprint].count == 2
    assert paid_for(world, tid) == {first[0].refund.refund_id: 1}
    assert verify_transaction(world.store, tid).ok


# --- UnprocessedKeys --------------------------------------------------------------------------


@pytest.mark.parametrize("first_read", ["HEAD", "KEY"])
def test_a_same_key_request_whose_batch_is_answered_in_part_resumes_the_refund_committed_meanwhile(
    world: World, first_read: str
) -> None:
    # Given a payment, and two requests under one key for all of it
    tid = world.pay(amount=10_000)
    first: list[RefundOutcome] = []
    # When the second's batch is answered for one of head and pointer, the other left
    # unprocessed, and the first commits and is paid before the store asks for it again
    client = CommitBeforeUnprocessedKeys(
        world.store._client, lambda: first.append(refund(world, tid, 10_000)), first_read
    )
    world.store._client = client
    second = refund(world, tid, 10_000)
    assert client.unprocessed_answers == 1
    # Then the second is told about the first's refund: not refused, not paid again
    assert second.refund.refund_id == first[0].refund.refund_id
    assert second.refund.status is RefundStatus.SUCCESS
    assert paid_for(world, tid) == {first[0].refund.refund_id: 1}
    assert verify_transaction(world.store, tid).ok


# --- payments recorded before pointers --------------------------------------------------------


def recorded_before_pointers(world: World, tid: str) -> None:
    """The payment's head as it was stored before decision 0025: no payment reference."""
    world.client.update_item(
        TableName=world.tables["PaymentLedger"],
        Key=codec.item_key(tid, codec.HEAD_SK),
        UpdateExpression="REMOVE payment_reference",
    )
    assert world.store.load_head(tid).payment_reference is None


@pytest.mark.parametrize("first_read", ["HEAD", "KEY"])
def test_before_pointers_a_same_key_request_resumes_the_refund_committed_between_its_reads(
    world: World, first_read: str
) -> None:
    # Given a payment recorded before pointers, and two requests under one key for all of it
    tid = world.pay(amount=10_000)
    recorded_before_pointers(world, tid)
    first: list[RefundOutcome] = []
    # When the first commits and is paid between the second's read of the head and of the
    # pointer, before the second reads the whole partition
    client = commit_between_reads(
        world, lambda: first.append(refund(world, tid, 10_000)), first_read
    )
    second = refund(world, tid, 10_000)
    assert client.between is None
    # Then the second resumes the first's refund
    assert second.refund.refund_id == first[0].refund.refund_id
    assert paid_for(world, tid) == {first[0].refund.refund_id: 1}
    assert verify_transaction(world.store, tid).ok


def test_before_pointers_a_retry_racing_a_retry_pays_its_key_once(
    world: World,
) -> None:
    # Given a payment recorded before pointers whose refund under the key failed retryably
    tid = world.pay(amount=10_000)
    recorded_before_pointers(world, tid)
    world.services.processor = UnreachableFor(world.services.processor, 1)  # type: ignore[assignment]
    failed = refund(world, tid, 4_000)
    assert failed.refund.status is RefundStatus.FAILED
    # When one retry commits between the other retry's reads, the pointer read first
    moved: list[RefundOutcome] = []
    client = commit_between_reads(world, lambda: moved.append(refund(world, tid, 4_000)), "KEY")
    second = refund(world, tid, 4_000)
    assert client.between is None
    # Then the other resumes it: one payout for the key
    assert second.refund.refund_id == moved[0].refund.refund_id
    assert paid_for(world, tid) == {moved[0].refund.refund_id: 1}
    assert world.store.load(tid).summary.refunded_amount == 4_000


# --- a settlement, and a payment recorded, between the reads ----------------------------------


@pytest.mark.parametrize("first_read", ["HEAD", "KEY"])
def test_a_same_key_retry_whose_refund_is_settled_between_its_reads_is_told_it_succeeded(
    world: World, first_read: str
) -> None:
    # Given a refund under the key whose answer was lost: the processor paid it, the ledger
    # holds it pending
    tid = world.pay(amount=10_000)
    lost_answer = {"simulate": "timeout"}
    command = RefundCommand(
        tid, RefundReason.OTHER, 4_000, metadata=lost_answer, idempotency_key=KEY
    )
    lost = request_refund(world.services, command, USER).refund
    assert lost.status is RefundStatus.PENDING
    # When the processor's webhook books it paid between the retry's two reads
    paid = normalized(ProcessorCode.APPROVED, world.services.processor.name)
    booked: list[RefundStatus] = []
    client = commit_between_reads(
        world,
        lambda: booked.append(settle(world.services, tid, lost.refund_id, paid, USER)[0].status),
        first_read,
    )
    again = refund(world, tid, 4_000)
    assert client.between is None
    assert booked == [RefundStatus.SUCCESS]
    # Then the retry is told the refund succeeded, and the payout and the ledger agree
    assert (again.refund.refund_id, again.refund.status) == (lost.refund_id, RefundStatus.SUCCESS)
    assert again.summary.refunded_amount == 4_000
    assert paid_for(world, tid) == {lost.refund_id: 1}
    assert world.store.load(tid).summary.refunded_amount == 4_000
    assert verify_transaction(world.store, tid).ok


@pytest.mark.parametrize("first_read", ["HEAD", "KEY"])
def test_a_keyed_request_that_reads_no_payment_then_a_pointer_never_pays_its_key_twice(
    world: World, first_read: str
) -> None:
    # Given a transaction id whose payment is not recorded yet
    tid = "txn-one-batch-late-payment"
    first: list[RefundOutcome] = []

    def pay_and_refund() -> None:
        world.pay(tid, amount=10_000)
        first.append(refund(world, tid, 4_000))

    # When the payment is recorded and refunded under the key between a same-key request's
    # two reads: read HEAD first, it finds no payment but a pointer to a refund
    client = commit_between_reads(world, pay_and_refund, first_read)
    second = refund(world, tid, 4_000)
    assert client.between is None
    # Then it reads again and resumes that refund
    assert second.refund.refund_id == first[0].refund.refund_id
    assert paid_for(world, tid) == {first[0].refund.refund_id: 1}
    assert verify_transaction(world.store, tid).ok


@pytest.mark.parametrize("first_read", ["HEAD", "KEY"])
def test_a_same_key_retry_whose_refund_is_rolled_back_between_its_reads_is_told_so(
    world: World, first_read: str
) -> None:
    # Given a paid refund of all of a payment under the key
    tid = world.pay(amount=10_000)
    paid = refund(world, tid, 10_000).refund
    assert paid.status is RefundStatus.SUCCESS

    # When it is rolled back between a same-key retry's two reads: all of it refundable again
    def roll_back() -> None:
        rollback_refund(world.services, tid, paid.refund_id, "returned", USER)

    client = commit_between_reads(world, roll_back, first_read)
    again = refund(world, tid, 10_000)
    assert client.between is None
    # Then the retry is told its refund was rolled back: it neither reserves nor pays again
    assert (again.refund.refund_id, again.refund.status) == (
        paid.refund_id,
        RefundStatus.ROLLED_BACK,
    )
    assert paid_for(world, tid) == {paid.refund_id: 1}
    state = world.store.load(tid)
    assert (len(state.refunds), state.summary.refunded_amount) == (1, 0)
    assert verify_transaction(world.store, tid).ok
