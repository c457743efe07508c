"""Attacks on the hour layer of the simulated processor's index.

Each test tries to make `DynamoDBSimulatorMemory.decided_between` leave out, or list twice, a
refund decided in the window through what the hour items add: windows starting or ending inside
an hour, at its last microsecond, across midnight, year end and leap day, in offsets that are
not whole hours; crashes and retries between the hour, minute and record writes; hour items
lacking their minutes; pre-change day items; unprocessed keys on the hour and minute reads;
windows of more than 100 hours. What a window must hold is worked out here, from the decision
times, not by the code under test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from refund_service.adapters.processors.simulated import DynamoDBSimulatorMemory, SimulatedProcessor
from refund_service.storage.schema import IDEMPOTENCY_TABLE, create_table_request
from tests.support.world import MutableClock
from tests.unit.processors.test_attack_minute_index import (
    INDIA,
    MICRO,
    TABLE,
    Client,
    around,
    expected,
    listed,
    paid_but_unlisted,
    put_pre_change_refund,
    record,
    request,
)

NEPAL = timezone(timedelta(hours=5, minutes=45))
MARQUESAS = timezone(timedelta(hours=-9, minutes=-30))
ZONES = (UTC, INDIA, NEPAL, MARQUESAS)
HOUR_PREFIX = "simulated-processor#hour#"
MINUTE_PREFIX = "simulated-processor#decided#"


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


def keys_read(client: Client, prefix: str) -> list[str]:
    """Every key under `prefix` the memory asked BatchGetItem for, in order, repeats kept."""
    return [
        key["id"]["S"]
        for sent in client.requests
        for key in sent["Keys"]
        if key["id"]["S"].startswith(prefix)
    ]


def put_item(client: Client, item_id: str, **attributes: dict[str, object]) -> None:
    client.client.put_item(TableName=TABLE, Item={"id": {"S": item_id}, **attributes})


# Edges where an hour turns over, with a day, a year, a leap day, or nothing else
HOUR_EDGES = (
    datetime(2027, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC) + MICRO,  # a new year
    datetime(2028, 2, 29, 0, 0, tzinfo=UTC),  # a leap day starts
    datetime(2028, 3, 1, 0, 0, tzinfo=UTC),  # and ends
    datetime(2028, 3, 1, 13, 0, tzinfo=UTC),  # a plain hour
)
HOUR_DECISIONS = (-3600, -1800, -1e-6, 0, 1e-6, 59.999999, 1800, 3599.999999, 3600)
HOUR_WINDOW_ENDS = (-3601, -3600, -2700, -1e-6, 0, 1e-6, 900, 3599.999999, 3600, 3601)


@pytest.mark.parametrize("edge", HOUR_EDGES, ids=lambda e: e.isoformat())
def test_every_window_around_an_hour_edge_lists_exactly_what_was_decided_in_it(
    memory: DynamoDBSimulatorMemory, edge: datetime
) -> None:
    # Given refunds decided an hour and half an hour before, a microsecond either side of and
    # at the edge, at the end of its minute, half an hour and an hour's last microsecond after,
    # and an hour after; each recorded in one of four zones
    decisions: dict[str, datetime] = {}
    for n, offset in enumerate(HOUR_DECISIONS):
        at = around(edge, offset).astimezone(ZONES[n % len(ZONES)])
        decisions[f"h{n}-REFUND"] = at
        memory.add(record(f"h{n}-REFUND", at), announce=False)

    # When every window with ends among the edge's neighbours is listed (reversed and empty
    # ones too), the ends in offsets of whole, half, three-quarter and minus half hours
    for i, since_offset in enumerate(HOUR_WINDOW_ENDS):
        for j, until_offset in enumerate(HOUR_WINDOW_ENDS):
            since = around(edge, since_offset).astimezone(ZONES[i % len(ZONES)])
            until = around(edge, until_offset).astimezone(ZONES[(i + j) % len(ZONES)])

            # Then each lists exactly the refunds decided in it, once each
            assert listed(memory, since, until) == expected(decisions, since, until), (
                since,
                until,
            )


@pytest.mark.parametrize("zone", [NEPAL, MARQUESAS, INDIA], ids=["+0545", "-0930", "+0530"])
def test_a_local_hour_window_reads_both_utc_hours_it_straddles(
    client: Client, memory: DynamoDBSimulatorMemory, zone: timezone
) -> None:
    # Given a local hour from 10:00 in a zone whose hours are not UTC's, and refunds decided
    # at its first and last microsecond and just outside it
    since = datetime(2026, 6, 1, 10, 0, tzinfo=zone)
    until = since + timedelta(hours=1)
    decisions = {
        "before-REFUND": since - MICRO,
        "first-REFUND": since,
        "last-REFUND": until - MICRO,
        "after-REFUND": until,
    }
    for refund_id, at in decisions.items():
        memory.add(record(refund_id, at), announce=False)
    client.requests.clear()

    # When that hour is listed
    found = listed(memory, since, until)

    # Then it holds the first and last, read from the two UTC hours it overlaps
    assert found == ["first-REFUND", "last-REFUND"]
    utc_hours = {f"{HOUR_PREFIX}{since.astimezone(UTC):%Y-%m-%dT%H}"}
    utc_hours.add(f"{HOUR_PREFIX}{(until - MICRO).astimezone(UTC):%Y-%m-%dT%H}")
    assert len(utc_hours) == 2
    assert set(keys_read(client, HOUR_PREFIX)) == utc_hours


def test_a_window_inside_one_minute_of_an_hour_reads_that_minute_only(
    client: Client, memory: DynamoDBSimulatorMemory
) -> None:
    # Given refunds decided at 10:59:00, 10:59:59.999999 and 11:00:00, and others earlier in
    # hour 10
    last = datetime(2026, 6, 1, 10, 59, 59, 999_999, tzinfo=UTC)
    for refund_id, at in {
        "early-REFUND": datetime(2026, 6, 1, 10, 5, tzinfo=UTC),
        "start-REFUND": datetime(2026, 6, 1, 10, 59, tzinfo=UTC),
        "last-REFUND": last,
        "next-REFUND": last + MICRO,
    }.items():
        memory.add(record(refund_id, at), announce=False)
    client.requests.clear()

    # When the window [10:59:30, 10:59:59.999999] is listed
    found = listed(memory, last - timedelta(seconds=29.999999), last + MICRO)

    # Then it lists the last microsecond's refund, from hour 10's minute 59 alone
    assert found == ["last-REFUND"]
    assert keys_read(client, HOUR_PREFIX) == [f"{HOUR_PREFIX}2026-06-01T10"]
    assert keys_read(client, MINUTE_PREFIX) == [f"{MINUTE_PREFIX}2026-06-01T10:59"]


def test_an_hour_item_without_minutes_lists_nothing_and_hides_nothing_joined_later(
    client: Client, memory: DynamoDBSimulatorMemory
) -> None:
    # Given hour 10's item present with no `minutes` attribute, and a minute item of it that
    # the hour does not name (a crash left no record behind it)
    put_item(client, f"{HOUR_PREFIX}2026-06-01T10", note={"S": "no minutes"})
    put_item(client, f"{MINUTE_PREFIX}2026-06-01T10:15", refund_ids={"SS": ["ghost-REFUND"]})
    since = datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert listed(memory, since, since + timedelta(hours=1)) == []

    # When a refund is decided in that hour
    decided = datetime(2026, 6, 1, 10, 30, tzinfo=UTC)
    memory.add(record("new-REFUND", decided), announce=False)

    # Then the hour names its minute and it is listed
    assert listed(memory, since, since + timedelta(hours=1)) == ["new-REFUND"]


def test_an_hour_naming_a_minute_whose_item_is_missing_lists_the_rest(
    client: Client, memory: DynamoDBSimulatorMemory
) -> None:
    # Given hour 10 naming minute 10:20 whose item was never written (a crash between the
    # joins), and a refund decided at 10:40
    put_item(client, f"{HOUR_PREFIX}2026-06-01T10", minutes={"SS": ["2026-06-01T10:20"]})
    decided = datetime(2026, 6, 1, 10, 40, tzinfo=UTC)
    memory.add(record("r-REFUND", decided), announce=False)

    # Then the hour's window lists the refund
    since = datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert listed(memory, since, since + timedelta(hours=1)) == ["r-REFUND"]


def test_a_refund_in_both_a_day_item_and_an_hours_minute_is_listed_once(
    client: Client, memory: DynamoDBSimulatorMemory
) -> None:
    # Given a refund decided before the change (in its day's item) whose id also joined a
    # minute and hour since (a retried request after the change), and one decided after it
    decided = datetime(2026, 6, 1, 23, 59, 59, 999_999, tzinfo=UTC)
    put_pre_change_refund(client, "old-REFUND", decided)
    memory.add(record("old-REFUND", decided), announce=False)
    memory.add(record("new-REFUND", decided), announce=False)
    put_pre_change_refund(client, "next-day-REFUND", decided + timedelta(minutes=30))

    # Then windows over them, in UTC and in zones whose days are others, list each once
    for zone in (UTC, NEPAL, MARQUESAS):
        since = (decided - timedelta(hours=1)).astimezone(zone)
        assert listed(memory, since, decided + MICRO) == ["new-REFUND", "old-REFUND"]
        assert listed(memory, since, decided + timedelta(hours=1)) == [
            "new-REFUND",
            "next-day-REFUND",
            "old-REFUND",
        ]


def test_a_pending_refund_decided_in_the_next_hour_is_listed_in_the_hour_its_record_names(
    memory: DynamoDBSimulatorMemory,
) -> None:
    # Given a pending refund received at 10:59:59.999999 and decided twice: by the outbox at
    # 11:00:00 and by a lookup at 12:00:00 (the second finds it decided)
    received = datetime(2026, 6, 1, 10, 59, 59, 999_999, tzinfo=UTC)
    memory.add(record("p-REFUND", None), announce=True)
    first = memory.decide("p-REFUND", received + MICRO)
    again = memory.decide("p-REFUND", received + MICRO + timedelta(hours=1))

    # Then it is decided at 11:00 and listed by hour 11 only, once
    assert first.decided_at == again.decided_at == received + MICRO
    day = datetime(2026, 6, 1, tzinfo=UTC)
    assert listed(memory, day, day + timedelta(days=1)) == ["p-REFUND"]
    assert listed(memory, received - timedelta(hours=1), received + MICRO) == []
    assert listed(memory, received + MICRO, received + timedelta(hours=2)) == ["p-REFUND"]


def test_interleaved_decisions_in_two_hours_list_the_one_that_won(
    client: Client, memory: DynamoDBSimulatorMemory
) -> None:
    # Given a pending refund, and a decision at 10:59:59 that stops after joining its hour
    # (its minute write fails) while another at 11:00:01 completes
    memory.add(record("p-REFUND", None), announce=False)
    slow_at = datetime(2026, 6, 1, 10, 59, 59, tzinfo=UTC)
    fast_at = datetime(2026, 6, 1, 11, 0, 1, tzinfo=UTC)
    client.fail_writes.add(client.writes + 2)  # the slow one's minute join
    with pytest.raises(ConnectionError):
        memory.decide("p-REFUND", slow_at)
    memory.decide("p-REFUND", fast_at)

    # When the slow decision is retried in full
    stored = memory.decide("p-REFUND", slow_at)

    # Then the record keeps the time that won, listed there and nowhere else
    assert stored.decided_at == fast_at
    assert listed(memory, fast_at, fast_at + MICRO) == ["p-REFUND"]
    assert listed(memory, slow_at - timedelta(hours=1), fast_at) == []
    assert paid_but_unlisted(memory, client) == []


# A pending refund received at the first moment and looked up 59 s later, retried after the
# gap: across a minute, and across an hour
PENDING_CASES = (
    (datetime(2026, 3, 14, 12, 0, 59, tzinfo=UTC), timedelta(minutes=1)),
    (datetime(2026, 6, 1, 10, 59, 30, tzinfo=UTC), timedelta(hours=1)),
)


@pytest.mark.parametrize("lost_answer", [False, True], ids=["not-written", "answer-lost"])
@pytest.mark.parametrize("failing", [1, 2, 3, 4, 5])
@pytest.mark.parametrize(("received", "retried_after"), PENDING_CASES, ids=["minute", "hour"])
def test_a_crash_at_any_write_of_a_pending_refund_leaves_no_payout_unlisted(
    client: Client,
    memory: DynamoDBSimulatorMemory,
    failing: int,
    lost_answer: bool,
    received: datetime,
    retried_after: timedelta,
) -> None:
    # Given a pending refund received (writes 1 and 2: outbox, record) and looked up 59 s later
    # (writes 3, 4 and 5: hour, minute, record), one write failing before it is made or after
    (client.lose_answers if lost_answer else client.fail_writes).add(failing)
    clock = MutableClock(received - timedelta(seconds=59))
    processor = SimulatedProcessor(memory, clock=clock, sleep=lambda _s: None, announce=True)
    for step, sent in (
        (processor.refund, request("p-REFUND", simulate="pending")),
        (processor.lookup, request("p-REFUND")),
    ):
        clock.now += timedelta(seconds=59)
        with contextlib.suppress(ConnectionError):  # the crash, at whichever write it hits
            step(sent)
        assert paid_but_unlisted(memory, client) == []

    # When the request and its lookup are retried after the gap, and the outbox is worked
    clock.now += retried_after
    processor.refund(request("p-REFUND", simulate="pending"))
    processor.lookup(request("p-REFUND"))
    clock.now += timedelta(minutes=1)
    processor.decide_due()

    # Then it is paid once, and listed by the window of the time its record names
    stored = memory.get("p-REFUND")
    assert stored is not None and stored.payments == 1
    assert paid_but_unlisted(memory, client) == []


# An approved refund decided at a day's (and a year's) last microsecond, asked again a
# second, or a microsecond, later
APPROVED_CASES = (
    (datetime(2026, 3, 14, 23, 59, 59, 999_999, tzinfo=UTC), timedelta(seconds=1)),
    (datetime(2027, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), MICRO),
)


@pytest.mark.parametrize("failing", [1, 2, 3])
@pytest.mark.parametrize(("decided", "asked_after"), APPROVED_CASES, ids=["day", "year"])
def test_a_crash_at_any_write_of_an_approved_refund_at_a_days_end_leaves_no_payout_unlisted(
    client: Client,
    memory: DynamoDBSimulatorMemory,
    failing: int,
    decided: datetime,
    asked_after: timedelta,
) -> None:
    # Given an approved refund's writes (1: hour, 2: minute, 3: record), one written but its
    # answer lost
    client.lose_answers.add(failing)
    clock = MutableClock(decided)
    processor = SimulatedProcessor(memory, clock=clock, sleep=lambda _s: None)
    with pytest.raises(ConnectionError):
        processor.refund(request("a-REFUND"))
    assert paid_but_unlisted(memory, client) == []

    # When it is asked again the next day
    clock.now += asked_after
    processor.refund(request("a-REFUND"))

    # Then whatever its record says, the window of that time lists it
    assert paid_but_unlisted(memory, client) == []


@pytest.mark.parametrize("answered", [1, 3, 99])
def test_a_window_of_more_than_100_hours_with_unprocessed_keys_lists_every_decision(
    client: Client, memory: DynamoDBSimulatorMemory, answered: int
) -> None:
    # Given refunds decided at the first and last microsecond of a 150-hour window starting
    # at 10:15:30 in +05:45, one every 7 hours between, and one just outside either end
    since = datetime(2028, 2, 26, 10, 15, 30, tzinfo=NEPAL)
    until = since + timedelta(hours=150)
    decisions = {"first-REFUND": since, "last-REFUND": until - MICRO}
    decisions |= {"before-REFUND": since - MICRO, "after-REFUND": until}
    decisions |= {f"m{n:02d}-REFUND": since + timedelta(hours=7 * n, seconds=n) for n in range(22)}
    for refund_id, at in decisions.items():
        memory.add(record(refund_id, at), announce=False)

    # When it is listed by a table answering only some keys of each BatchGetItem
    client.answered = answered
    client.requests.clear()
    found = listed(memory, since, until)

    # Then every decision in it is listed once, every hour it overlaps was read, and no
    # call asked for more than 100 keys
    assert found == expected(decisions, since, until)
    assert len(found) == 24
    first_hour = since.astimezone(UTC).replace(minute=0, second=0)
    hours = {f"{HOUR_PREFIX}{first_hour + timedelta(hours=n):%Y-%m-%dT%H}" for n in range(151)}
    assert set(keys_read(client, HOUR_PREFIX)) == hours
    assert max(len(sent["Keys"]) for sent in client.requests) <= 100


def test_a_quiet_window_of_300_hours_reads_only_the_minutes_its_hours_name(
    client: Client, memory: DynamoDBSimulatorMemory
) -> None:
    # Given three refunds decided in a 300-hour window, two in one minute
    since = datetime(2026, 12, 30, 0, 0, tzinfo=MARQUESAS)
    until = since + timedelta(hours=300)
    decisions = {
        "a-REFUND": since + timedelta(hours=5, seconds=1),
        "b-REFUND": since + timedelta(hours=5, seconds=59),
        "c-REFUND": since + timedelta(hours=299, minutes=59, seconds=59.999999),
    }
    for refund_id, at in decisions.items():
        memory.add(record(refund_id, at), announce=False)
    client.requests.clear()

    # When it is listed
    found = listed(memory, since, until)

    # Then all three are, from the two minute items that hold them
    assert found == ["a-REFUND", "b-REFUND", "c-REFUND"]
    assert sorted(keys_read(client, MINUTE_PREFIX)) == sorted(
        f"{MINUTE_PREFIX}{at.astimezone(UTC):%Y-%m-%dT%H:%M}"
        for at in decisions.values()
        if at != decisions["b-REFUND"]
    )
