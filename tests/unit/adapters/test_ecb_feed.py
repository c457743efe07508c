"""The ECB daily feed parser, on a feed recorded in the ECB's published layout: it accepts the
real document and refuses malformed, partial, stale or future ones."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from refund_service.adapters.ecb_feed import FeedError, parse_daily_feed

RECORDED = (Path(__file__).parent / "data" / "eurofxref-daily-2026-10-30.xml").read_bytes()
PUBLISHED = date(2026, 10, 30)  # a Friday


def test_the_recorded_feed_gives_its_day_and_every_rate() -> None:
    rates = parse_daily_feed(RECORDED, today=PUBLISHED)

    assert rates.day == PUBLISHED
    assert len(rates.per_euro) == 29
    assert rates.per_euro["USD"] == Decimal("1.1172")
    assert rates.per_euro["JPY"] == Decimal("175.68")
    assert rates.per_euro["ISK"] == Decimal("136.00")
    assert "EUR" not in rates.per_euro


def test_a_feed_from_before_the_weekend_is_still_current_on_monday() -> None:
    assert parse_daily_feed(RECORDED, today=date(2026, 11, 3)).day == PUBLISHED


def test_a_feed_more_than_four_days_old_is_refused_as_stale() -> None:
    with pytest.raises(FeedError, match="stale"):
        parse_daily_feed(RECORDED, today=date(2026, 11, 4))


def test_a_feed_dated_after_today_is_refused() -> None:
    with pytest.raises(FeedError, match="after today"):
        parse_daily_feed(RECORDED, today=date(2026, 10, 29))


def altered(old: str, new: str) -> bytes:
    assert old.encode() in RECORDED
    return RECORDED.replace(old.encode(), new.encode(), 1)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (RECORDED[: len(RECORDED) // 2], "not well-formed"),
        (b"<html><body>Service unavailable</body></html>", "not the gesmes envelope"),
        (b"", "not well-formed"),
        (altered("rate='1.1172'", "rate='-1.1172'"), "USD"),
        (altered("rate='1.1172'", "rate='1,1172'"), "USD"),
        (altered("rate='1.1172'", "rate='NaN'"), "USD"),
        (altered("currency='USD'", "currency='usd'"), "currency"),
        (altered("currency='JPY'", "currency='USD'"), "twice"),
        (altered("currency='JPY'", "currency='EUR'"), "euro"),
        (altered("time='2026-10-30'", "time='30.10.2026'"), "not a date"),
        (altered("\t\t\t<Cube currency='USD' rate='1.1172'/>\n", ""), "missing USD"),
        (
            altered("<Cube>\n\t\t<Cube time", "<Cube>\n\t\t<Cube time='2026-10-29'/><Cube time"),
            "2 days",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "a">]>' + RECORDED[38:],
            "document type",
        ),
    ],
    ids=[
        "truncated",
        "html",
        "empty",
        "negative-rate",
        "comma-rate",
        "nan-rate",
        "lowercase-currency",
        "duplicate-currency",
        "euro-quoted",
        "bad-date",
        "missing-usd",
        "two-days",
        "doctype",
    ],
)
def test_a_malformed_feed_is_refused(body: bytes, problem: str) -> None:
    with pytest.raises(FeedError, match=problem):
        parse_daily_feed(body, today=PUBLISHED)


def test_a_feed_with_few_currencies_is_refused() -> None:
    lines = RECORDED.decode().splitlines(keepends=True)
    kept = [line for line in lines if "currency=" not in line or "USD" in line or "GBP" in line]

    with pytest.raises(FeedError, match="holds 2 currencies"):
        parse_daily_feed("".join(kept).encode(), today=PUBLISHED)
