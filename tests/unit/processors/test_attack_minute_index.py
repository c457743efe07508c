"""Attacks on the simulated processor's minute index (its listing for processor reconciliation).

Each test tries to make `DynamoDBSimulatorMemory.decided_between` leave out, or list twice, a
refund the simulator decided in the window: at window and minute edges, in other time zones,
across day, month, year and leap-day ends, through crashes between the index write and the
record, with pre-change day items, unprocessed keys, and end to end through processor
reconciliation. What a window must hold is worked out here, from the decision times, not by
the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from refund_service.adapters.processors.simulated import (
    DynamoDBSimulatorMemory,
    SimulatedProcessor,
    SimulatedRefund,
)
from refund_service.bootstrap import build_processor_reconciler
from refund_service.domain.processor import ProcessorCode, ProcessorRefundRequest
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.handlers import processor_reconciler
from refund_service.service.processor_reconciliation import reconcile_processor
from refund_service.service.refunds import RefundCommand, request_refund
from refund_service.settings import ProcessorReconcilerSettings
from refund_service.storage.schema import IDEMPOTENCY_TABLE, create_table_request
from tests.support.world import USER, MutableClock, World, make_world

TABLE = "RefundIdempotency"
MICRO = timedelta(microseconds=1)
INDIA = timezone(timedelta(hours=5, minutes=30))
BRAZIL = timezone(timedelta(hours=-3))
ODD = timezone(timedelta(minutes=-7, seconds=-30))  # an offset that is not whole minutes
ZONES = (UTC, INDIA, BRAZIL, ODD)


class Client:
    """The moto client, answering at most `answered` keys per BatchGetItem (the rest
    unprocessed, as DynamoDB does under load), failing chosen writes, and keeping each
    BatchGetItem request it was sent."""

    def __init__(self, client: Any, answered: int = 100):
        self.client = client
        self.answered = answered
        self.requests: list[dict[str, Any]] = []
        self.writes = 0
        self.fail_writes: set[int] = set()  # the n-th write (1-based) raises, not written
        self.lose_answers: set[int] = set()  # the n-th write is written, then raises

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def update_item(self, **kwargs: Any) -> Any:
        return self._write(self.client.update_item, kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        return self._write(self.client.put_item, kwargs)

    def _write(self, call: Any, kwargs: dict[str, Any]) -> Any:
        self.writes += 1
        if self.writes in self.fail_writes:
            raise ConnectionError(f"write {self.writes} never reached DynamoDB")
        answer = call(**kwargs)
        if self.writes in self.lose_answers:
            raise ConnectionError(f"write {self.writes} done, its answer lost")
        return answer

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        [(table, request)] = RequestItems.items()
        self.requests.append(request)
        keys = request["Keys"]
        answer: dict[str, Any] = self.client.batch_get_item(
            RequestItems={table: {**request, "Keys": keys[: self.answered]}}
        )
        if keys[self.answered :]:
            answer["UnprocessedKeys"] = {table: {**request, "Keys": keys[self.answered :]}}
        return answer


@pytest.fixture
def client() -> Iterator[Client]:
    from moto import mock_aws

    with mock_aws():
        import boto3

        moto = boto3.client("dynamodb", region_name="us-east-1")
        moto.create_table(**create_table_request(IDEMPOTENCY_TABLE, TABLE))
        yield Client(moto)


@pytest.fixture
def memory(client: Client) -> DynamoDBSimulatorMemory:
    return DynamoDBSimulatorMemory(client, TABLE)


def record(refund_id: str, decided_at: datetime | None, amount: int = 1_000) -> SimulatedRefund:
    approved = decided_at is not None
    return SimulatedRefund(
        refund_id=refund_id,
        transaction_id=refund_id.removesuffix("-REFUND"),
        amount=amount,
        currency="EUR",
        code=(ProcessorCode.APPROVED if approved else ProcessorCode.PENDING).value,
        reference=f"sim_{refund_id}",
        received_at=(decided_at or datetime(2026, 1, 1, tzinfo=UTC)) - timedelta(seconds=1),
        decided_at=decided_at,
        payments=1 if approved else 0,
    )


def request(refund_id: str, **metadata: Any) -> ProcessorRefundRequest:
    return ProcessorRefundRequest(
        refund_id=refund_id,
        transaction_id=refund_id.removesuffix("-REFUND"),
        amount=1_000,
        currency="EUR",
        reason="other",
        metadata=metadata,
    )


def listed(memory: DynamoDBSimulatorMemory, since: datetime, until: datetime) -> list[str]:
    """The ids listed, in order, duplicates kept."""
    return [r.refund_id for r in memory.decided_between(since, until)]


def expected(decisions: dict[str, datetime], since: datetime, until: datetime) -> list[str]:
    return sorted(i for i, at in decisions.items() if since <= at < until)


def index_items(client: Client) -> dict[str, set[str]]:
    """Every minute and day item, by id (a test may scan; the memory never does)."""
    items = client.client.scan(TableName=TABLE)["Items"]
    return {
        item["id"]["S"]: set(item["refund_ids"]["SS"])
        for item in items
        if item["id"]["S"].startswith(("simulated-processor#decided#", "simulated-processor#day#"))
    }


def put_pre_change_refund(client: Client, refund_id: str, decided_at: datetime) -> None:
    """A refund as the memory wrote it before minute items: in its UTC day's item."""
    day = decided_at.astimezone(UTC).date().isoformat()
    client.client.update_item(
        TableName=TABLE,
        Key={"id": {"S": f"simulated-processor#day#{day}"}},
        UpdateExpression="ADD refund_ids :id",
        ExpressionAttributeValues={":id": {"SS": [refund_id]}},
    )
    plain = DynamoDBSimulatorMemory(client.client, TABLE)
    plain.add(record(refund_id, None), announce=False)  # its record, pending ...
    client.client.update_item(  # ... then decided as the old code did, without a minute item
        TableName=TABLE,
        Key={"id": {"S": f"simulated-processor#{refund_id}"}},
        UpdateExpression="SET code = :approved, payments = :one, decided_at = :at",
        ExpressionAttributeValues={
            ":approved": {"S": "APPROVED"},
            ":one": {"N": "1"},
            ":at": {"S": decided_at.isoformat()},
        },
    )


# Edges where a minute, day, month, year or leap day turns over (UTC)
EDGES = (
    datetime(2027, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC) + MICRO,  # a new year
    datetime(2028, 2, 29, 0, 0, tzinfo=UTC),  # a leap day starts
    datetime(2028, 3, 1, 0, 0, tzinfo=UTC),  # and ends, with the month
    datetime(2028, 3, 31, 23, 59, 30, tzinfo=UTC),  # inside a minute, at a month's end
)
DECISION_OFFSETS = (-60, -1e-6, 0, 1e-6, 29.5, 59.999999, 60)
WINDOW_OFFSETS = (-61, -60, -1e-6, 0, 1e-6, 30, 59.999999, 60, 61)


def around(edge: datetime, seconds: float) -> datetime:
    return edge + timedelta(seconds=seconds)


@pytest.mark.parametrize("edge", EDGES, ids=lambda e: e.isoformat())
def test_every_window_around_an_edge_lists_exactly_what_was_decided_in_it(
    memory: DynamoDBSimulatorMemory, edge: datetime
) -> None:
    # Given refunds decided a minute before, a microsecond either side of and at the edge,
    # inside and at the end of its minute, and a minute after
    decisions: dict[str, datetime] = {}
    for n, offset in enumerate(DECISION_OFFSETS):
        decisions[f"r{n}-REFUND"] = around(edge, offset)
        memory.add(record(f"r{n}-REFUND", around(edge, offset)), announce=False)

    # When every window with ends among the edge's neighbours is listed (reversed and empty
    # ones too), each end in one of four offsets from UTC, one of them not whole minutes
    for i, since_offset in enumerate(WINDOW_OFFSETS):
        for j, until_offset in enumerate(WINDOW_OFFSETS):
            since = around(edge, since_offset).astimezone(ZONES[i % 4])
            until = around(edge, until_offset).astimezone(ZONES[(i + j + 1) % 4])

            # Then it lists each refund decided in [since, until) once, and nothing else
            assert listed(memory, since, until) == expected(decisions, since, until), (
                since,
                until,
            )


def test_a_decision_recorded_in_another_zone_is_indexed_by_its_utc_minute(
    client: Client, memory: DynamoDBSimulatorMemory
) -> None:
    # Given a refund decided at 00:00:30 UTC, its time given in +05:30 (05:30:30 local)
    # and one at 23:59:30 UTC the day before, given in -03:00 (20:59:30 local)
    after = datetime(2026, 3, 15, 5, 30, 30, tzinfo=INDIA)
    before = datetime(2026, 3, 14, 20, 59, 30, tzinfo=BRAZIL)
    memory.add(record("after-REFUND", after), announce=False)
    memory.add(record("before-REFUND", before), announce=False)

    # Then each sits in its UTC minute, and a UTC window of either minute lists only it
    assert index_items(client) == {
        "simulated-processor#decided#2026-03-15T00:00": {"after-REFUND"},
        "simulated-processor#decided#2026-03-14T23:59": {"before-REFUND"},
    }
    midnight = datetime(2026, 3, 15, tzinfo=UTC)
    assert listed(memory, midnight, midnight + timedelta(minutes=1)) == ["after-REFUND"]
    assert listed(memory, midnight - timedelta(minutes=1), midnight) == ["before-REFUND"]


def test_windows_given_in_a_zones_repeated_hour_list_by_the_moment_not_the_wall_clock(
    memory: DynamoDBSimulatorMemory,
) -> None:
    # Given refunds decided at 01:30 London time twice on the night clocks go back (00:30
    # and 01:30 UTC), and at 01:59:59.999999 of the second 1 o'clock hour
    london = ZoneInfo("Europe/London")
    first = datetime(2026, 10, 25, 1, 30, tzinfo=london, fold=0)
    second = datetime(2026, 10, 25, 1, 30, tzinfo=london, fold=1)
    late = datetime(2026, 10, 25, 1, 59, 59, 999_999, tzinfo=london, fold=1)
    decisions = {"first-REFUND": first, "second-REFUND": second, "late-REFUND": late}
    for refund_id, at in decisions.items():
        memory.add(record(refund_id, at.astimezone(UTC)), announce=False)
    decisions = {i: at.astimezone(UTC) for i, at in decisions.items()}
    assert decisions["second-REFUND"] - decisions["first-REFUND"] == timedelta(hours=1)

    # Then windows with London ends, in either 1 o'clock hour, list by the moment
    for since, until in (
        (first, second),
        (second, late),
        (second, late + MICRO),
        (datetime(2026, 10, 25, 1, 0, tzinfo=london, fold=1), second + MICRO),
        (first - timedelta(hours=1), late + timedelta(hours=1)),
    ):
        assert listed(memory, since, until) == expected(decisions, since, until), (since, until)
    assert listed(memory, first, second) == ["first-REFUND"]


def test_a_pending_refund_decided_on_a_minute_edge_is_in_the_minute_its_record_names(
    client: Client, memory: DynamoDBSimulatorMemory
) -> None:
    # Given a pending refund received at 11:59:59.5, looked up at exactly 12:00:00
    clock = MutableClock(datetime(2026, 3, 14, 11, 59, 59, 500_000, tzinfo=UTC))
    processor = SimulatedProcessor(memory, clock=clock, sleep=lambda _s: None)
    processor.refund(request("p-REFUND", simulate="pending"))
    noon = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    clock.now = noon
    assert processor.lookup(request("p-REFUND")) is not None

    # Then its record says noon, its id is in noon's minute only, and it is listed by
    # noon's first microsecond, not by the minute before
    stored = memory.get("p-REFUND")
    assert stored is not None and stored.decided_at == noon and stored.payments == 1
    assert index_items(client) == {"simulated-processor#decided#2026-03-14T12:00": {"p-REFUND"}}
    assert listed(memory, noon, noon + MICRO) == ["p-REFUND"]
    assert listed(memory, noon - timedelta(minutes=1), noon) == []


class TickingClock:
    """A clock that moves on by `step` each time it is read."""

    def __init__(self, now: datetime, step: timedelta):
        self.now, self.step = now, step

    def __call__(self) -> datetime:
        now = self.now
        self.now += self.step
        return now


def test_refunds_decided_due_as_the_clock_crosses_a_minute_are_listed_at_their_recorded_time(
    memory: DynamoDBSimulatorMemory,
) -> None:
    # Given two pending refunds, due, and a clock read a moment before a minute turns over
    # that moves a second on with every read while the outbox is worked through
    received = datetime(2026, 3, 14, 11, 59, 0, tzinfo=UTC)
    early = MutableClock(received)
    setup = SimulatedProcessor(memory, clock=early, sleep=lambda _s: None, announce=True)
    for name in ("a", "b"):
        setup.refund(request(f"{name}-REFUND", simulate="pending"))
    edge = datetime(2026, 3, 14, 11, 59, 59, 999_999, tzinfo=UTC)
    processor = SimulatedProcessor(
        memory, clock=TickingClock(edge, timedelta(seconds=1)), announce=True
    )

    # When they are decided
    assert sorted(processor.decide_due().decided) == ["a-REFUND", "b-REFUND"]

    # Then each is listed in the window holding the time its record says, and in no later one
    decided = {r.refund_id: r.decided_at for r in memory.outbox()}
    assert decided == {"a-REFUND": edge, "b-REFUND": edge}
    assert listed(memory, edge, edge + MICRO) == ["a-REFUND", "b-REFUND"]
    assert listed(memory, edge + MICRO, edge + timedelta(hours=1)) == []


def test_an_approved_refund_decided_again_later_is_listed_once_at_its_first_time(
    client: Client, memory: DynamoDBSimulatorMemory
) -> None:
    # Given a refund added approved at 12:00:10, then decided again at 12:05 (a late lookup
    # racing the first answer), and added again at 12:07 (a retried request)
    first = datetime(2026, 3, 14, 12, 0, 10, tzinfo=UTC)
    memory.add(record("r-REFUND", first), announce=False)
    again = memory.decide("r-REFUND", first + timedelta(minutes=5))
    retried = memory.add(record("r-REFUND", first + timedelta(minutes=7)), announce=False)

    # Then the record keeps its first time and payment, whatever minutes its id also joined
    assert again.decided_at == retried.decided_at == first and again.payments == 1
    assert listed(memory, first, first + MICRO) == ["r-REFUND"]
    assert listed(memory, first - timedelta(hours=1), first + timedelta(hours=1)) == ["r-REFUND"]
    assert listed(memory, first + MICRO, first + timedelta(hours=1)) == []


def paid_but_unlisted(memory: DynamoDBSimulatorMemory, client: Client) -> list[str]:
    """Every paid refund in the table that the window around its own decision time omits."""
    items = client.client.scan(TableName=TABLE)["Items"]
    paid = [memory.get(i["refund_id"]["S"]) for i in items if "refund_id" in i]
    return [
        r.refund_id
        for r in paid
        if r is not None
        and r.payments
        and r.decided_at is not None
        and r.refund_id not in listed(memory, r.decided_at, r.decided_at + MICRO)
    ]


# Crashes at each write: tests/unit/processors/test_attack_hour_index.py


def test_a_refund_in_both_a_day_item_and_a_minute_item_is_listed_once(
    client: Client, memory: DynamoDBSimulatorMemory
) -> None:
    # Given a refund decided before the change (in its day's item), whose id also joined a
    # minute item since (a retried request after the change)
    decided = datetime(2026, 3, 14, 10, 0, 5, tzinfo=UTC)
    put_pre_change_refund(client, "old-REFUND", decided)
    memory.add(record("old-REFUND", decided), announce=False)
    assert index_items(client) == {
        "simulated-processor#day#2026-03-14": {"old-REFUND"},
        "simulated-processor#decided#2026-03-14T10:00": {"old-REFUND"},
    }

    # Then a window over it lists it once
    assert listed(memory, decided - timedelta(hours=1), decided + timedelta(hours=1)) == [
        "old-REFUND"
    ]


@pytest.mark.parametrize(
    ("since", "until"),
    [
        # a window in +05:30 whose local dates are the next day's
        (
            datetime(2026, 3, 15, 0, 10, tzinfo=INDIA),
            datetime(2026, 3, 15, 5, 29, 59, 999_999, tzinfo=INDIA),
        ),
        # a window in -03:00 wholly on the day before, locally
        (
            datetime(2026, 3, 14, 20, 0, tzinfo=BRAZIL),
            datetime(2026, 3, 14, 20, 59, 59, tzinfo=BRAZIL),
        ),
        # a window of one microsecond at the decision
        (
            datetime(2026, 3, 14, 23, 59, 58, tzinfo=UTC),
            datetime(2026, 3, 14, 23, 59, 58, 1, tzinfo=UTC),
        ),
    ],
    ids=["plus-0530", "minus-0300", "one-microsecond"],
)
def test_a_pre_change_refund_is_listed_by_windows_whose_local_day_is_not_its_utc_day(
    client: Client, memory: DynamoDBSimulatorMemory, since: datetime, until: datetime
) -> None:
    # Given a refund decided before the change at 23:59:58 UTC, in the 14th's day item
    decided = datetime(2026, 3, 14, 23, 59, 58, tzinfo=UTC)
    put_pre_change_refund(client, "old-REFUND", decided)

    # Then each window holding that moment lists it
    assert since <= decided < until
    assert listed(memory, since, until) == ["old-REFUND"]


def test_a_pre_change_refund_decided_at_a_windows_end_is_not_listed_by_it(
    client: Client, memory: DynamoDBSimulatorMemory
) -> None:
    # Given a refund decided before the change at midnight UTC exactly
    midnight = datetime(2026, 3, 15, tzinfo=UTC)
    put_pre_change_refund(client, "old-REFUND", midnight)

    # Then the window ending there omits it, and the one starting there lists it
    assert listed(memory, midnight - timedelta(hours=2), midnight) == []
    assert listed(memory, midnight, midnight + MICRO) == ["old-REFUND"]


@pytest.mark.parametrize("answered", [1, 7, 99])
def test_unprocessed_keys_on_index_and_record_reads_lose_nothing_and_stay_consistent(
    client: Client, memory: DynamoDBSimulatorMemory, answered: int
) -> None:
    # Given 250 refunds decided in one minute and 3 in the next, and a table that answers
    # only some keys of each BatchGetItem
    noon = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    first = noon + timedelta(seconds=10)
    decisions = {f"r{n:03}-REFUND": first + timedelta(milliseconds=200 * n) for n in range(253)}
    for refund_id, at in decisions.items():
        memory.add(record(refund_id, at), announce=False)
    assert len({at.replace(second=0, microsecond=0) for at in decisions.values()}) == 2
    client.answered = answered
    client.requests.clear()

    # When a window over both minutes is listed
    ids = listed(memory, noon, noon + timedelta(minutes=2))

    # Then every refund is listed once, and every read, followed or not, was a consistent
    # one of at most 100 keys
    assert ids == sorted(decisions)
    assert all(r["ConsistentRead"] is True for r in client.requests)
    assert max(len(r["Keys"]) for r in client.requests) <= 100


def test_naive_window_ends_are_refused_not_read_as_another_window(
    memory: DynamoDBSimulatorMemory,
) -> None:
    # Given a refund decided at noon UTC
    noon = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    memory.add(record("r-REFUND", noon), announce=False)

    # Then a window with a naive end is an error, never a silent listing
    naive = noon.replace(tzinfo=None)
    for since, until in ((naive, naive + timedelta(hours=1)), (noon, naive + timedelta(hours=1))):
        with pytest.raises(TypeError):
            memory.decided_between(since, until)


PAID_AT = datetime(2026, 11, 2, 9, 0, 59, 999_999, tzinfo=UTC)  # a minute's last microsecond


def payout_the_ledger_lacks(moto_dynamodb: Any) -> tuple[World, str, str]:
    """The service with the simulated processor on DynamoDB, and a refund it answered pending
    (pending in the ledger) and paid at PAID_AT, nobody told: the world, the transaction and
    the refund."""
    clock = MutableClock(datetime(2026, 11, 2, 9, 0, 0, tzinfo=UTC))
    world = make_world(moto_dynamodb, clock)
    memory = DynamoDBSimulatorMemory(moto_dynamodb, world.tables["Idempotency"])
    processor = SimulatedProcessor(memory, clock=clock, sleep=lambda _s: None, announce=True)
    world.services.processor = processor
    tid = world.pay(amount=10_000)
    command = RefundCommand(tid, RefundReason.OTHER, 2_500, metadata={"simulate": "pending"})
    pending = request_refund(world.services, command, USER).refund
    assert pending.status is RefundStatus.PENDING
    clock.now = PAID_AT
    assert processor.decide_due().decided == [pending.refund_id]
    return world, tid, pending.refund_id


def test_a_payout_decided_at_a_minutes_last_microsecond_is_booked_by_reconciliation(
    moto_dynamodb: Any,
) -> None:
    # Given a payout the ledger lacks, made at a minute's last microsecond
    world, tid, refund_id = payout_the_ledger_lacks(moto_dynamodb)

    # When reconciliation's window is that microsecond, given in +05:30
    window = (PAID_AT.astimezone(INDIA), (PAID_AT + MICRO).astimezone(INDIA))
    report = reconcile_processor(world.services, *window)

    # Then it is booked
    assert report.listed == 1 and report.booked == [refund_id]
    state = world.store.load(tid)
    assert state.refunds[refund_id].status is RefundStatus.SUCCESS
    assert state.summary.refunded_amount == 2_500
    # And the window just before it, ending on that microsecond, lists nothing
    before = reconcile_processor(world.services, PAID_AT - timedelta(minutes=1), PAID_AT)
    assert before.listed == 0


def test_a_48_hour_window_off_the_minute_reads_every_hour_it_overlaps(
    client: Client, memory: DynamoDBSimulatorMemory
) -> None:
    # Given refunds decided in the first and the last minute a 48 h window cuts into
    since = datetime(2026, 3, 14, 8, 17, 42, 123_456, tzinfo=UTC)
    until = since + timedelta(hours=48)
    first, last = since + timedelta(seconds=10), until - MICRO
    memory.add(record("first-REFUND", first), announce=False)
    memory.add(record("last-REFUND", last), announce=False)
    client.requests.clear()

    # When it is listed
    ids = listed(memory, since, until)

    # Then both are listed, from 49 hour keys and 3 day keys in one call, the two minutes
    # they name in another, plus one for the records
    assert ids == ["first-REFUND", "last-REFUND"]
    index_keys = [k["id"]["S"] for r in client.requests[:-1] for k in r["Keys"]]
    assert len([k for k in index_keys if "#hour#" in k]) == 49
    assert len([k for k in index_keys if "#day#" in k]) == 3
    assert [k for k in index_keys if "#decided#" in k] == [
        "simulated-processor#decided#2026-03-14T08:17",
        "simulated-processor#decided#2026-03-16T08:17",
    ]
    assert len(client.requests) == 3


def test_the_scheduled_function_books_a_payout_from_the_first_window_that_holds_it(
    moto_dynamodb: Any,
) -> None:
    # Given a payout the ledger lacks, made at a minute's last microsecond
    world, tid, refund_id = payout_the_ledger_lacks(moto_dynamodb)
    clock = world.clock
    settings = ProcessorReconcilerSettings.from_environ(
        {
            "LEDGER_TABLE_NAME": world.tables["PaymentLedger"],
            "AUDIT_TABLE_NAME": world.tables["PaymentAuditTrail"],
            "IDEMPOTENCY_TABLE_NAME": world.tables["Idempotency"],
            "PROCESSOR": "simulated",
            "PROCESSOR_SECRET_ARN": "",
            "RECONCILE_AFTER_MINUTES": "5",
            "PROCESSOR_RECONCILE_WINDOW_HOURS": "48",
        }
    )

    def run_at(now: datetime) -> dict[str, Any]:
        clock.now = now
        run = build_processor_reconciler(settings, services=world.services)
        return processor_reconciler.run_once(run)

    # When the function runs with its window ending exactly at the payout, then a
    # microsecond later, then with its window starting at the payout, and just after it
    lag = timedelta(minutes=5)
    ending_at = run_at(PAID_AT + lag)
    ending_after = run_at(PAID_AT + lag + MICRO)
    starting_at = run_at(PAID_AT + lag + timedelta(hours=48))
    starting_after = run_at(PAID_AT + lag + timedelta(hours=48) + MICRO)

    # Then the window ending at it omits it, the next books it, and the last window that
    # holds it agrees
    assert (ending_at["listed"], ending_at["booked"]) == (0, [])
    assert (ending_after["listed"], ending_after["booked"]) == (1, [refund_id])
    assert (starting_at["listed"], starting_at["agreed"]) == (1, 1)
    assert starting_after["listed"] == 0
    assert world.store.load(tid).refunds[refund_id].status is RefundStatus.SUCCESS
