"""Refund search and the daily finance report (SPEC section 4.1), read from the refund indexes.

Every read is a Query on an index partition, newest first. A search merges the partitions it
needs (the shards of a status or of a day) by (created_at, refund_id), so a page is the newest
`limit` matches below the cursor's position. The cursor is that position plus a digest of the
search's filter: it is validated against the request that brings it back, and the filter is
applied again as key conditions, so it cannot lead outside its own search (decision 0014).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, runtime_checkable

from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.refund import Refund, RefundStatus
from refund_service.service.context import timestamp

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
CURSOR_VERSION = 1
MAX_REFUND_ID_LENGTH = 200
REPORT_PAGE_SIZE = 1000
# Far wider than any refund's life, and narrow enough that a bound plus a day never overflows.
EARLIEST_YEAR, LATEST_YEAR = 1970, 9000
# A time-only search reads the day index when its range spans at most this many days (as many
# partitions as the status index has statuses); a longer one merges the status partitions.
MAX_DAYS_BY_DAY_INDEX = len(RefundStatus)
REPORT_STATUS_ORDER = (
    RefundStatus.SUCCESS,
    RefundStatus.PENDING,
    RefundStatus.FAILED,
    RefundStatus.ROLLED_BACK,
)

Position = tuple[str, str]  # (created_at, refund_id): the order of every index, compared as text


@dataclass(frozen=True)
class IndexedRefund:
    refund: Refund
    created_at: str  # as the index sorts it (UTC, milliseconds)
    fx_adjustment_amount: int = 0

    @property
    def position(self) -> Position:
        return (self.created_at, self.refund.refund_id)


@dataclass(frozen=True)
class Bounds:
    """What a Query may return: created_at in [created_from, created_to), and below `before`."""

    created_from: str | None = None
    created_to: str | None = None
    before: Position | None = None


@runtime_checkable
class RefundIndex(Protocol):
    """The refund indexes; every stream is lazy (one Query per page read) and newest first."""

    def refunds_of_transaction(
        self, transaction_id: str, bounds: Bounds, status: RefundStatus | None, page_size: int
    ) -> Iterator[IndexedRefund]: ...

    def refunds_with_status(
        self, status: RefundStatus, bounds: Bounds, page_size: int
    ) -> list[Iterator[IndexedRefund]]:
        """One stream per shard."""
        ...

    def refunds_of_day(
        self, day: date, bounds: Bounds, page_size: int, currency: str | None = None
    ) -> list[Iterator[IndexedRefund]]:
        """One stream per shard of a UTC day."""
        ...


def refund_index(store: object) -> RefundIndex:
    if not isinstance(store, RefundIndex):
        raise TypeError(f"{type(store).__name__} has no refund indexes")
    return store


def _invalid(message: str, **details: object) -> DomainError:
    return DomainError(ErrorCode.VALIDATION_ERROR, message, dict(details))


# --- the request --------------------------------------------------------------------------------


def parse_time(name: str, raw: str) -> datetime:
    """An ISO 8601 moment; one without an offset is UTC."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _invalid(f"{name} is not an ISO 8601 date-time.", parameter=name) from None
    _check_year(name, moment.year)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_day(name: str, raw: str) -> date:
    """A calendar day written YYYY-MM-DD."""
    try:
        day = date.fromisoformat(raw) if _DAY.match(raw) else None
    except ValueError:
        day = None
    if day is None:
        raise _invalid(f"{name} is a calendar day, YYYY-MM-DD.", parameter=name)
    _check_year(name, day.year)
    return day


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _check_year(name: str, year: int) -> None:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise _invalid(f"{name} is outside {EARLIEST_YEAR} to {LATEST_YEAR}.", parameter=name)


def time_bound(moment: datetime) -> str:
    """Stored times have millisecond precision: a bound between two milliseconds moves up.
    A moment without an offset is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    spare = moment.microsecond % 1000
    return timestamp(moment + timedelta(microseconds=1000 - spare) if spare else moment)


@dataclass(frozen=True)
class SearchQuery:
    transaction_id: str | None = None
    status: RefundStatus | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise _invalid(f"limit is 1 to {MAX_LIMIT}.", parameter="limit")
        if self.created_from and self.created_to and self.created_from > self.created_to:
            raise _invalid("created_from is after created_to.", parameter="created_from")

    @property
    def lower(self) -> str | None:
        return time_bound(self.created_from) if self.created_from else None

    @property
    def upper(self) -> str | None:
        return time_bound(self.created_to) if self.created_to else None

    def filter_digest(self) -> str:
        status = self.status.value if self.status else None
        shape = json.dumps([self.transaction_id, status, self.lower, self.upper])
        return hashlib.sha256(shape.encode()).hexdigest()[:24]


def parse_status(raw: str) -> RefundStatus:
    try:
        return RefundStatus(raw)
    except ValueError:
        allowed = [s.value for s in RefundStatus]
        raise _invalid(f"status is one of {allowed}.", parameter="status") from None


# --- the cursor ---------------------------------------------------------------------------------


def encode_cursor(query: SearchQuery, position: Position) -> str:
    payload = {"v": CURSOR_VERSION, "f": query.filter_digest(), "c": position[0], "r": position[1]}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(query: SearchQuery, cursor: str) -> Position:
    """The position a cursor of this very search points at; VALIDATION_ERROR for any other."""
    refused = _invalid("The cursor is not one this search issued.", parameter="cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except ValueError:  # binascii, JSON and Unicode errors are all ValueErrors
        raise refused from None
    if not isinstance(payload, dict) or payload.get("v") != CURSOR_VERSION:
        raise refused
    if payload.get("f") != query.filter_digest():
        raise refused
    created_at, refund_id = payload.get("c"), payload.get("r")
    if not (_is_stored_time(created_at) and _is_refund_id(refund_id)):
        raise refused
    assert isinstance(created_at, str) and isinstance(refund_id, str)
    if (query.lower and created_at < query.lower) or (query.upper and created_at >= query.upper):
        raise refused
    return created_at, refund_id


def _is_stored_time(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return timestamp(datetime.fromisoformat(value)) == value
    except ValueError:
        return False


def _is_refund_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_REFUND_ID_LENGTH
        and value.isprintable()
        and "#" not in value
    )


# --- the search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchPage:
    refunds: list[IndexedRefund]
    next_cursor: str | None


def search(index: RefundIndex, query: SearchQuery, now: datetime) -> SearchPage:
    """The newest `limit` matches below the cursor; a next cursor only if more match."""
    before = decode_cursor(query, query.cursor) if query.cursor else None
    bounds = Bounds(query.lower, query.upper, before)
    found = list(itertools.islice(_matches(index, query, bounds, now), query.limit + 1))
    page = found[: query.limit]
    more = len(found) > query.limit
    return SearchPage(page, encode_cursor(query, page[-1].position) if more else None)


def _newest_first(streams: Iterable[Iterator[IndexedRefund]]) -> Iterator[IndexedRefund]:
    return heapq.merge(*streams, key=lambda found: found.position, reverse=True)


def _matches(
    index: RefundIndex, query: SearchQuery, bounds: Bounds, now: datetime
) -> Iterator[IndexedRefund]:
    wanted = query.limit + 1
    if query.transaction_id is not None:
        return index.refunds_of_transaction(query.transaction_id, bounds, query.status, wanted)
    if query.status is not None:
        return _newest_first(index.refunds_with_status(query.status, bounds, wanted))
    days = _days(bounds, now)
    if days is not None and len(days) <= MAX_DAYS_BY_DAY_INDEX:
        return itertools.chain.from_iterable(
            _newest_first(index.refunds_of_day(day, bounds, wanted)) for day in days
        )
    return _newest_first(
        stream
        for status in RefundStatus
        for stream in index.refunds_with_status(status, bounds, wanted)
    )


def _days(bounds: Bounds, now: datetime) -> list[date] | None:
    """The UTC days a bounded search covers, newest first; None without a lower bound."""
    if bounds.created_from is None:
        return None
    first = date.fromisoformat(bounds.created_from[:10])
    uppers = [(now + timedelta(days=1)).astimezone(UTC)]  # a clock a little ahead still counts
    if bounds.created_to is not None:
        uppers.append(datetime.fromisoformat(bounds.created_to) - timedelta(milliseconds=1))
    if bounds.before is not None:
        uppers.append(datetime.fromisoformat(bounds.before[0]))
    last = min(uppers).astimezone(UTC).date()
    count = (last - first).days + 1
    return [last - timedelta(days=n) for n in range(max(count, 0))]


# --- the daily report ---------------------------------------------------------------------------


@dataclass
class ReportRow:
    currency: str
    status: RefundStatus
    count: int = 0
    amount: int = 0
    tax_amount: int = 0
    fee_amount: int = 0
    fx_adjustment_amount: int = 0

    def add(self, found: IndexedRefund) -> None:
        self.count += 1
        self.amount += found.refund.amount
        self.tax_amount += found.refund.tax_amount
        self.fee_amount += found.refund.fee_amount
        self.fx_adjustment_amount += found.fx_adjustment_amount


def day_bounds(day: date) -> Bounds:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return Bounds(timestamp(start), timestamp(start + timedelta(days=1)))


def daily_report(index: RefundIndex, day: date, currency: str | None = None) -> list[ReportRow]:
    """One row per currency and status of the refunds created on a UTC day, from its index."""
    rows: dict[tuple[str, RefundStatus], ReportRow] = {}
    for stream in index.refunds_of_day(day, day_bounds(day), REPORT_PAGE_SIZE, currency):
        for found in stream:
            key = (found.refund.currency, found.refund.status)
            rows.setdefault(key, ReportRow(*key)).add(found)
    order = {status: n for n, status in enumerate(REPORT_STATUS_ORDER)}
    return sorted(rows.values(), key=lambda row: (row.currency, order[row.status]))
