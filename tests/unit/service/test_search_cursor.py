"""The search cursor and bounds, without a table: what is accepted and what is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.refund import RefundStatus
from refund_service.service.search import (
    SearchQuery,
    decode_cursor,
    encode_cursor,
    parse_day,
    parse_time,
    time_bound,
)

FROM = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TO = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
INSIDE = ("2026-11-02T12:00:00.000+00:00", "txn-1-REFUND")


def refused(call: object) -> None:
    with pytest.raises(DomainError) as raised:
        assert callable(call)
        call()
    assert raised.value.code is ErrorCode.VALIDATION_ERROR


def test_a_cursor_comes_back_as_its_position_for_the_same_search() -> None:
    query = SearchQuery(status=RefundStatus.PENDING, created_from=FROM, created_to=TO)
    assert decode_cursor(query, encode_cursor(query, INSIDE)) == INSIDE
    # the page size is not part of the search: it may change between pages
    other_limit = SearchQuery(
        status=RefundStatus.PENDING, created_from=FROM, created_to=TO, limit=100
    )
    assert decode_cursor(other_limit, encode_cursor(query, INSIDE)) == INSIDE


@pytest.mark.parametrize(
    "other",
    [
        SearchQuery(status=RefundStatus.SUCCESS, created_from=FROM, created_to=TO),
        SearchQuery(status=RefundStatus.PENDING, created_from=FROM),
        SearchQuery(status=RefundStatus.PENDING, created_from=FROM, created_to=TO + timedelta(1)),
        SearchQuery(transaction_id="txn-1", created_from=FROM, created_to=TO),
    ],
)
def test_a_cursor_of_another_search_is_refused(other: SearchQuery) -> None:
    query = SearchQuery(status=RefundStatus.PENDING, created_from=FROM, created_to=TO)
    refused(lambda: decode_cursor(other, encode_cursor(query, INSIDE)))


@pytest.mark.parametrize(
    "position",
    [
        ("2026-11-02T08:59:59.999+00:00", "txn-1-REFUND"),  # before created_from
        ("2026-11-03T09:00:00.000+00:00", "txn-1-REFUND"),  # at created_to, which is excluded
        ("2026-11-02T12:00:00+00:00", "txn-1-REFUND"),  # not the stored form
        ("2026-11-02T12:00:00.000+00:00", "txn#1"),
        ("2026-11-02T12:00:00.000+00:00", ""),
        ("2026-11-02T12:00:00.000+00:00", "x" * 201),
    ],
)
def test_a_position_the_search_could_not_have_issued_is_refused(
    position: tuple[str, str],
) -> None:
    query = SearchQuery(created_from=FROM, created_to=TO)
    refused(lambda: decode_cursor(query, encode_cursor(query, position)))


@pytest.mark.parametrize("cursor", ["", "!!!", "e30", "bnVsbA", "W10", "\u00e9t\u00e9"])
def test_garbage_is_refused(cursor: str) -> None:
    refused(lambda: decode_cursor(SearchQuery(), cursor))


def test_a_cursor_with_an_edited_position_but_its_old_digest_is_refused_outside_range() -> None:
    query = SearchQuery(created_from=FROM, created_to=TO)
    payload = json.loads(base64.urlsafe_b64decode(encode_cursor(query, INSIDE) + "=="))
    payload["c"] = "2026-11-01T00:00:00.000+00:00"
    edited = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    refused(lambda: decode_cursor(query, edited))


def test_bounds_move_up_to_the_next_stored_millisecond() -> None:
    assert time_bound(datetime(2026, 11, 2, 9, 0, 0, 1, tzinfo=UTC)) == (
        "2026-11-02T09:00:00.001+00:00"
    )
    assert time_bound(datetime(2026, 11, 2, 9, 0, 0, 1000, tzinfo=UTC)) == (
        "2026-11-02T09:00:00.001+00:00"
    )
    plus_one = timezone(timedelta(hours=1))
    assert time_bound(datetime(2026, 11, 2, 10, tzinfo=plus_one)) == time_bound(FROM)
    assert time_bound(datetime(2026, 11, 2, 9)) == time_bound(FROM)


def test_the_request_checks() -> None:
    refused(lambda: SearchQuery(limit=0))
    refused(lambda: SearchQuery(limit=101))
    refused(lambda: SearchQuery(created_from=TO, created_to=FROM))
    assert SearchQuery(created_from=FROM, created_to=FROM).lower == time_bound(FROM)
    refused(lambda: parse_time("created_from", "2026-11-02T09:00:00+25:00"))
    refused(lambda: parse_time("created_from", "1969-12-31T23:59:59Z"))
    assert parse_time("created_to", "2026-11-02T09:00:00Z") == FROM
    refused(lambda: parse_day("date", "2026-02-30"))
    refused(lambda: parse_day("date", "2026-1-02"))
    assert parse_day("date", "2026-11-02") == FROM.date()
