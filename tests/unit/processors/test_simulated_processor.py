"""The simulated processor (SPEC 5): delay, pays once, lists what it decided, signed webhooks.

Every behaviour is checked on both memories: in process, and DynamoDB (moto) under the
idempotency table's prefix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from refund_service.adapters.processors import simulated_webhook
from refund_service.adapters.processors.simulated import (
    DynamoDBSimulatorMemory,
    InMemorySimulatorMemory,
    SimulatedProcessor,
    SimulatorMemory,
)
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRequest,
    ProcessorStatus,
    ProcessorTimeoutError,
    ProcessorUnavailableError,
)
from refund_service.storage.schema import IDEMPOTENCY_TABLE, create_table_request
from tests.support.world import MutableClock

SECRET = "whsec_test"
START = datetime(2026, 3, 14, 23, 59, 58, tzinfo=UTC)


class Recorder:
    """Counts the DynamoDB calls the memory makes, and passes them on."""

    def __init__(self, client: Any):
        self.client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.client, name)


@pytest.fixture(params=["in-memory", "dynamodb"])
def memory(request: pytest.FixtureRequest) -> Iterator[SimulatorMemory]:
    if request.param == "in-memory":
        yield InMemorySimulatorMemory()
        return
    from moto import mock_aws

    with mock_aws():
        import boto3

        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**create_table_request(IDEMPOTENCY_TABLE, "RefundIdempotency"))
        yield DynamoDBSimulatorMemory(Recorder(client), "RefundIdempotency")


class Deliveries:
    """The injected webhook sender: keeps each delivery, answers the statuses it is given."""

    def __init__(self, *statuses: int | Exception):
        self.statuses = list(statuses)
        self.sent: list[tuple[dict[str, str], bytes]] = []

    def __call__(self, headers: dict[str, str], body: bytes) -> int:
        self.sent.append((headers, body))
        answer = self.statuses.pop(0) if self.statuses else 200
        if isinstance(answer, Exception):
            raise answer
        return answer

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.sent]


def make(
    memory: SimulatorMemory,
    clock: MutableClock,
    sender: Deliveries | None = None,
    sleep: Callable[[float], None] = lambda _seconds: None,
) -> SimulatedProcessor:
    return SimulatedProcessor(
        memory,
        clock=clock,
        sleep=sleep,
        announce=True,
        sender=sender,
        webhook_secret=SECRET,
        pending_after=timedelta(seconds=5),
        retry_pause_seconds=0,
    )


def request(refund_id: str = "t1-REFUND", amount: int = 2_500, **metadata: Any) -> Any:
    return ProcessorRefundRequest(
        refund_id=refund_id,
        transaction_id=refund_id.removesuffix("-REFUND"),
        amount=amount,
        currency="EUR",
        reason="other",
        metadata=metadata,
    )


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock(START)


def test_a_delay_is_waited_before_deciding_and_a_lookup_meanwhile_finds_nothing(
    memory: SimulatorMemory, clock: MutableClock
) -> None:
    # Given a processor whose wait lets us look the refund up while it waits
    seen_during_wait: list[Any] = []
    waited: list[float] = []
    processor: SimulatedProcessor

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        seen_during_wait.append(processor.lookup(request()))
        clock.advance(seconds=seconds)

    processor = make(memory, clock, sleep=sleep)

    # When a refund asks for a 4-second delay
    result = processor.refund(request(simulate_delay_ms=4_000))

    # Then it waited 4 s, nothing was known meanwhile, and it was decided after the wait
    assert waited == [4.0]
    assert seen_during_wait == [None]
    assert result.code is ProcessorCode.APPROVED
    found = processor.lookup(request())
    assert found is not None and found.code is ProcessorCode.APPROVED
    [listed] = processor.refunds_between(START, START + timedelta(minutes=1)) or []
    assert listed.created_at == (START + timedelta(seconds=4)).isoformat()


@pytest.mark.parametrize("delay", [-1, 10_001, "4000", 1.5, True, None])
def test_a_delay_outside_0_to_10000_ms_is_an_invalid_request(
    memory: SimulatorMemory, clock: MutableClock, delay: Any
) -> None:
    waited: list[float] = []
    processor = make(memory, clock, sleep=waited.append)

    result = processor.refund(request(simulate_delay_ms=delay))

    assert (result.status, result.code) == (ProcessorStatus.FAILED, ProcessorCode.INVALID_REQUEST)
    assert "simulate_delay_ms" in (result.processor_message or "")
    assert waited == [] and processor.lookup(request()) is None


@pytest.mark.parametrize("delay", [0, 10_000])
def test_the_delay_bounds_are_allowed(
    memory: SimulatorMemory, clock: MutableClock, delay: int
) -> None:
    waited: list[float] = []
    result = make(memory, clock, sleep=waited.append).refund(request(simulate_delay_ms=delay))
    assert result.code is ProcessorCode.APPROVED and waited == [delay / 1000]


def test_asking_twice_with_the_same_refund_id_pays_once(
    memory: SimulatorMemory, clock: MutableClock
) -> None:
    processor = make(memory, clock)
    first = processor.refund(request())
    clock.advance(seconds=30)
    again = processor.refund(request(simulate="decline"))

    assert first.code is again.code is ProcessorCode.APPROVED
    listed = list(processor.refunds_between(START, START + timedelta(hours=1)) or [])
    assert [(r.refund_id, r.status) for r in listed] == [("t1-REFUND", ProcessorStatus.SUCCEEDED)]
    if isinstance(memory, InMemorySimulatorMemory):
        assert memory.payments() == {"t1-REFUND": 1}


def test_it_lists_what_it_paid_and_declined_in_the_window(
    memory: SimulatorMemory, clock: MutableClock
) -> None:
    # Given refunds decided on both sides of midnight, and some never decided or sent
    processor = make(memory, clock)
    processor.refund(request("paid-REFUND", 1_000))
    processor.refund(request("declined-REFUND", 2_000, simulate="decline"))
    processor.refund(request("waiting-REFUND", 3_000, simulate="pending"))
    with pytest.raises(ProcessorUnavailableError):
        processor.refund(request("unsent-REFUND", simulate="network_error"))
    clock.advance(seconds=5)  # past midnight: another day
    processor.refund(request("later-REFUND", 4_000, simulate="insufficient_funds"))
    clock.advance(hours=2)
    processor.refund(request("outside-REFUND", 5_000))

    # When the processor is asked what it decided over the first hour
    listed = processor.refunds_between(START, START + timedelta(hours=1))

    # Then each decided refund is there with its decision, the rest are not
    assert listed is not None
    by_id = {r.refund_id: r for r in listed}
    assert {k: (v.amount, v.status) for k, v in by_id.items()} == {
        "paid-REFUND": (1_000, ProcessorStatus.SUCCEEDED),
        "declined-REFUND": (2_000, ProcessorStatus.FAILED),
        "later-REFUND": (4_000, ProcessorStatus.FAILED),
    }
    paid = by_id["paid-REFUND"]
    assert (paid.processor, paid.processor_reference, paid.currency) == (
        "simulated",
        "sim_paid-REFUND",
        "EUR",
    )
    assert paid.created_at == START.isoformat()
    assert by_id["later-REFUND"].created_at == (START + timedelta(seconds=5)).isoformat()


def test_a_pending_refund_is_listed_once_decided(
    memory: SimulatorMemory, clock: MutableClock
) -> None:
    processor = make(memory, clock)
    processor.refund(request(simulate="pending"))
    window = (START, START + timedelta(days=1))
    assert list(processor.refunds_between(*window) or []) == []

    clock.advance(seconds=10)
    looked_up = processor.lookup(request())

    assert looked_up is not None and looked_up.code is ProcessorCode.APPROVED
    [listed] = processor.refunds_between(*window) or []
    assert (listed.status, listed.created_at) == (
        ProcessorStatus.SUCCEEDED,
        (START + timedelta(seconds=10)).isoformat(),
    )


class BatchRecorder(Recorder):
    """Also keeps the ids each BatchGetItem asked for, and answers at most `answered` of them
    per call, leaving the rest unprocessed as DynamoDB does under load."""

    def __init__(self, client: Any, answered: int = 100):
        super().__init__(client)
        self.answered = answered
        self.batches: list[list[str]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.calls.append("batch_get_item")
        [(table, request)] = RequestItems.items()
        keys = request["Keys"]
        self.batches.append([k["id"]["S"] for k in keys])
        now = {table: {**request, "Keys": keys[: self.answered]}}
        answer: dict[str, Any] = self.client.batch_get_item(RequestItems=now)
        if keys[self.answered :]:
            answer["UnprocessedKeys"] = {table: {**request, "Keys": keys[self.answered :]}}
        return answer

    def index_reads(self) -> list[list[str]]:
        """The batches that asked for index items, not refund records."""
        return [b for b in self.batches if any(i.startswith(INDEX_PREFIXES) for i in b)]


INDEX_PREFIXES = (
    "simulated-processor#decided#",
    "simulated-processor#hour#",
    "simulated-processor#day#",
)


@pytest.fixture
def dynamodb() -> Iterator[BatchRecorder]:
    from moto import mock_aws

    with mock_aws():
        import boto3

        client = BatchRecorder(boto3.client("dynamodb", region_name="us-east-1"))
        client.create_table(**create_table_request(IDEMPOTENCY_TABLE, "RefundIdempotency"))
        yield client


def index_items(client: Recorder) -> dict[str, set[str]]:
    """Every index item in the table, by id, with its members: refund ids, or an hour's
    minutes (a test may scan; the memory never does)."""
    items = client.client.scan(TableName="RefundIdempotency")["Items"]
    return {
        item["id"]["S"]: set(item.get("refund_ids", item.get("minutes", {}))["SS"])
        for item in items
        if item["id"]["S"].startswith(INDEX_PREFIXES)
    }


def put_pre_change_refund(client: Recorder, refund_id: str, decided_at: datetime) -> None:
    """A refund as the memory wrote it before minute items: its record, and its id in the
    item of its day."""
    client.client.update_item(
        TableName="RefundIdempotency",
        Key={"id": {"S": f"simulated-processor#day#{decided_at.date().isoformat()}"}},
        UpdateExpression="ADD refund_ids :id",
        ExpressionAttributeValues={":id": {"SS": [refund_id]}},
    )
    client.client.put_item(
        TableName="RefundIdempotency",
        Item={
            "id": {"S": f"simulated-processor#{refund_id}"},
            "refund_id": {"S": refund_id},
            "transaction_id": {"S": refund_id.removesuffix("-REFUND")},
            "amount": {"N": "700"},
            "currency": {"S": "EUR"},
            "code": {"S": "APPROVED"},
            "reference": {"S": f"sim_{refund_id}"},
            "received_at": {"S": decided_at.isoformat()},
            "decided_at": {"S": decided_at.isoformat()},
            "payments": {"N": "1"},
        },
    )


def listed_ids(processor: SimulatedProcessor, since: datetime, until: datetime) -> set[str]:
    return {r.refund_id for r in processor.refunds_between(since, until) or []}


def test_listing_reads_index_items_in_batches_and_never_scans(
    dynamodb: BatchRecorder, clock: MutableClock
) -> None:
    processor = make(DynamoDBSimulatorMemory(dynamodb, "RefundIdempotency"), clock)
    for n in range(120):  # more than one BatchGetItem of records
        processor.refund(request(f"r{n}-REFUND", 100 + n))
    # a crash between the index write and the record: listed id, no record, nothing paid
    dynamodb.update_item(
        TableName="RefundIdempotency",
        Key={"id": {"S": "simulated-processor#decided#2026-03-14T23:59"}},
        UpdateExpression="ADD refund_ids :id",
        ExpressionAttributeValues={":id": {"SS": ["crashed-REFUND"]}},
    )
    dynamodb.calls.clear()

    listed = list(processor.refunds_between(START, START + timedelta(hours=1)) or [])

    assert sorted(r.amount for r in listed) == list(range(100, 220))
    assert set(dynamodb.calls) == {"batch_get_item"}


def test_refunds_decided_either_side_of_midnight_are_in_their_minutes_and_listed(
    dynamodb: BatchRecorder,
) -> None:
    # Given a refund decided at 23:59:30 and one at 00:00:10 the next day
    clock = MutableClock(datetime(2026, 3, 14, 23, 59, 30, tzinfo=UTC))
    processor = make(DynamoDBSimulatorMemory(dynamodb, "RefundIdempotency"), clock)
    processor.refund(request("before-REFUND"))
    clock.advance(seconds=40)
    processor.refund(request("after-REFUND"))

    # Then each sits in the item of its minute, and each minute in the item of its hour
    assert index_items(dynamodb) == {
        "simulated-processor#decided#2026-03-14T23:59": {"before-REFUND"},
        "simulated-processor#decided#2026-03-15T00:00": {"after-REFUND"},
        "simulated-processor#hour#2026-03-14T23": {"2026-03-14T23:59"},
        "simulated-processor#hour#2026-03-15T00": {"2026-03-15T00:00"},
    }
    # And a window across midnight lists both
    window = (datetime(2026, 3, 14, 23, 0, tzinfo=UTC), datetime(2026, 3, 15, 1, 0, tzinfo=UTC))
    dynamodb.batches.clear()
    assert listed_ids(processor, *window) == {"before-REFUND", "after-REFUND"}
    # reading its 2 hours and 2 days, then only the 2 minutes they name
    assert [len(batch) for batch in dynamodb.index_reads()] == [4, 2]


def test_a_window_cutting_inside_minutes_reads_them_and_lists_only_what_it_holds(
    dynamodb: BatchRecorder,
) -> None:
    # Given refunds decided at 12:00:10, 12:00:40, 12:01:05 and 12:01:20
    noon = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    clock = MutableClock(noon)
    processor = make(DynamoDBSimulatorMemory(dynamodb, "RefundIdempotency"), clock)
    for name, second in (("a", 10), ("b", 40), ("c", 65), ("d", 80)):
        clock.now = noon + timedelta(seconds=second)
        processor.refund(request(f"{name}-REFUND"))
    dynamodb.batches.clear()

    # When the window is [12:00:40, 12:01:20)
    listed = listed_ids(processor, noon + timedelta(seconds=40), noon + timedelta(seconds=80))

    # Then its hour (and its day's pre-change item), then its two minutes are read, and its
    # edges filter
    assert listed == {"b-REFUND", "c-REFUND"}
    assert dynamodb.index_reads() == [
        ["simulated-processor#hour#2026-03-14T12", "simulated-processor#day#2026-03-14"],
        [
            "simulated-processor#decided#2026-03-14T12:00",
            "simulated-processor#decided#2026-03-14T12:01",
        ],
    ]


def test_a_refund_indexed_by_day_before_the_change_is_still_listed(
    dynamodb: BatchRecorder, clock: MutableClock
) -> None:
    # Given a refund decided before the change, indexed in its day's item
    put_pre_change_refund(dynamodb, "old-REFUND", START - timedelta(minutes=30))
    processor = make(DynamoDBSimulatorMemory(dynamodb, "RefundIdempotency"), clock)

    # When another is decided the same day, after the change
    processor.refund(request("new-REFUND"))

    # Then the day item is left as it was, and a window over both lists both
    day_item = index_items(dynamodb)["simulated-processor#day#2026-03-14"]
    assert day_item == {"old-REFUND"}
    assert listed_ids(processor, START - timedelta(hours=1), START + timedelta(hours=1)) == {
        "old-REFUND",
        "new-REFUND",
    }


def test_the_item_a_refund_writes_does_not_grow_with_the_days_earlier_refunds(
    dynamodb: BatchRecorder,
) -> None:
    # Given a day with 240 refunds before, two a minute
    morning = datetime(2026, 3, 14, 8, 0, tzinfo=UTC)
    clock = MutableClock(morning)
    processor = make(DynamoDBSimulatorMemory(dynamodb, "RefundIdempotency"), clock)
    for n in range(240):
        processor.refund(request(f"{n:04}-REFUND"))
        clock.advance(seconds=30)

    # When one more refund is decided
    processor.refund(request("9999-REFUND"))

    # Then the index item holding its id holds no more than its minute's, like the day's first
    holding = {k: v for k, v in index_items(dynamodb).items() if "9999-REFUND" in v}
    assert holding == {"simulated-processor#decided#2026-03-14T10:00": {"9999-REFUND"}}
    first = {k: v for k, v in index_items(dynamodb).items() if "0000-REFUND" in v}
    assert first == {"simulated-processor#decided#2026-03-14T08:00": {"0000-REFUND", "0001-REFUND"}}
    # and an hour's item names at most its 60 minutes
    hours = {k: v for k, v in index_items(dynamodb).items() if "#hour#" in k}
    assert len(hours) == 3 and max(len(v) for v in hours.values()) == 60


def test_a_long_window_reads_its_hours_in_batches_of_100_following_unprocessed_keys(
    dynamodb: BatchRecorder, clock: MutableClock
) -> None:
    # Given refunds decided at the start and ten days later, and a table that answers at
    # most 60 keys a call
    processor = make(DynamoDBSimulatorMemory(dynamodb, "RefundIdempotency"), clock)
    processor.refund(request("first-REFUND"))
    clock.advance(days=10)
    processor.refund(request("last-REFUND"))
    dynamodb.answered = 60
    dynamodb.batches.clear()

    # When the 11-day window is listed
    listed = listed_ids(processor, START, START + timedelta(days=11))

    # Then both are listed; every hour and day of the window was asked for, its 277 keys in
    # 2 calls of 100 and one of 77, each followed once for its unprocessed keys; then only
    # the two minutes that had a decision
    assert listed == {"first-REFUND", "last-REFUND"}
    hours = {f"{START + timedelta(hours=h):%Y-%m-%dT%H}" for h in range(265)}
    days = {f"{START + timedelta(days=d):%Y-%m-%d}" for d in range(12)}
    expected = {f"simulated-processor#hour#{h}" for h in hours} | {
        f"simulated-processor#day#{d}" for d in days
    }
    reads = dynamodb.index_reads()
    assert {i for batch in reads[:-1] for i in batch} == expected
    assert [len(batch) for batch in reads] == [100, 40, 100, 40, 77, 17, 2]
    assert set(reads[-1]) == {
        f"simulated-processor#decided#{START:%Y-%m-%dT%H:%M}",
        f"simulated-processor#decided#{START + timedelta(days=10):%Y-%m-%dT%H:%M}",
    }


def test_a_timeout_refund_is_paid_and_announced_by_a_signed_webhook(
    memory: SimulatorMemory, clock: MutableClock
) -> None:
    # Given a refund whose answer is lost
    deliveries = Deliveries()
    processor = make(memory, clock, deliveries)
    with pytest.raises(ProcessorTimeoutError):
        processor.refund(request(simulate="timeout"))

    # When the processor's clock ticks, twice
    first = processor.decide_due()
    second = processor.decide_due()

    # Then one webhook said it succeeded, signed over its timestamp and body
    assert (first.delivered, second.delivered) == (["t1-REFUND"], [])
    [(headers, body)] = deliveries.sent
    timestamp, signature = headers[simulated_webhook.SIGNATURE_HEADER].split(",")
    t = int(timestamp.removeprefix("t="))
    assert t == int(START.timestamp())
    assert signature == "v1=" + simulated_webhook.signature(SECRET, t, body)
    assert body == simulated_webhook.event_body(
        refund_id="t1-REFUND",
        transaction_id="t1",
        amount=2_500,
        currency="EUR",
        code="APPROVED",
        reference="sim_t1-REFUND",
        created=int(START.timestamp()),
    )
    assert deliveries.events()[0]["type"] == "refund.succeeded"


def test_a_pending_refund_is_decided_after_its_time_and_announced(
    memory: SimulatorMemory, clock: MutableClock
) -> None:
    deliveries = Deliveries()
    processor = make(memory, clock, deliveries)
    answer = processor.refund(request(simulate="pending"))
    assert answer.code is ProcessorCode.PENDING

    clock.advance(seconds=4)
    too_soon = processor.decide_due()
    assert (too_soon.decided, too_soon.delivered, deliveries.sent) == ([], [], [])
    clock.advance(seconds=1)
    due = processor.decide_due()

    assert (due.decided, due.delivered) == (["t1-REFUND"], ["t1-REFUND"])
    [event] = deliveries.events()
    assert (event["type"], event["data"]["code"]) == ("refund.succeeded", "APPROVED")
    assert event["created"] == int((START + timedelta(seconds=5)).timestamp())
    found = processor.lookup(request())
    assert found is not None and found.code is ProcessorCode.APPROVED


def test_a_pending_refund_decided_by_a_lookup_is_still_announced_once(
    memory: SimulatorMemory, clock: MutableClock
) -> None:
    deliveries = Deliveries()
    processor = make(memory, clock, deliveries)
    processor.refund(request(simulate="pending"))
    processor.lookup(request())

    processor.decide_due()
    processor.decide_due()

    assert [e["data"]["refund_id"] for e in deliveries.events()] == ["t1-REFUND"]


def test_approved_and_declined_answers_are_not_announced(
    memory: SimulatorMemory, clock: MutableClock
) -> None:
    deliveries = Deliveries()
    processor = make(memory, clock, deliveries)
    processor.refund(request("a-REFUND"))
    processor.refund(request("d-REFUND", simulate="decline"))
    assert processor.decide_due().delivered == [] and deliveries.sent == []


def test_failed_deliveries_are_retried_then_given_up_without_raising(
    memory: SimulatorMemory, clock: MutableClock
) -> None:
    # Given a receiver that fails every way it can
    deliveries = Deliveries(ConnectionRefusedError("down"), 500, 401)
    processor = make(memory, clock, deliveries)
    with pytest.raises(ProcessorTimeoutError):
        processor.refund(request(simulate="timeout"))

    report = processor.decide_due()

    assert (report.delivered, report.undelivered) == ([], ["t1-REFUND"])
    assert len(deliveries.sent) == 3
    assert processor.decide_due().undelivered == []  # given up, as a processor does


def test_a_failure_then_success_is_delivered(memory: SimulatorMemory, clock: MutableClock) -> None:
    deliveries = Deliveries(503)
    processor = make(memory, clock, deliveries)
    with pytest.raises(ProcessorTimeoutError):
        processor.refund(request(simulate="timeout"))
    assert processor.decide_due().delivered == ["t1-REFUND"]
    assert len(deliveries.sent) == 2


def test_without_announcing_a_pending_refund_waits_for_its_lookup(
    memory: SimulatorMemory, clock: MutableClock
) -> None:
    deliveries = Deliveries()
    processor = SimulatedProcessor(memory, clock=clock, sender=deliveries)
    processor.refund(request(simulate="pending"))
    clock.advance(minutes=10)
    assert processor.decide_due().decided == [] and deliveries.sent == []
    found = processor.lookup(request())
    assert found is not None and found.code is ProcessorCode.APPROVED


def test_a_pending_refunds_time_counts_from_its_receipt(
    memory: SimulatorMemory, clock: MutableClock
) -> None:
    # Given a pending refund the processor took 4 s to answer
    deliveries = Deliveries()
    processor = make(memory, clock, deliveries, sleep=lambda s: clock.advance(seconds=s))
    processor.refund(request(simulate="pending", simulate_delay_ms=4_000))

    # When 5 s have passed since it was received
    clock.advance(seconds=1)
    due = processor.decide_due()

    # Then it is decided and announced
    assert due.decided == ["t1-REFUND"] and len(deliveries.sent) == 1
