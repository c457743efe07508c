"""Keeps the ECB's daily reference rates current in the rates store (SPEC 2: current rates).

Each run fetches the feed, refuses it if malformed or stale, stores its day, and reports how
old the newest stored day is; that age is reported even when the fetch fails, so the
stale-rates alarm sees an outage of the feed as the age grows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from refund_service.adapters.ecb_feed import DailyRates, FeedError, parse_daily_feed

FX_RATES_AGE_DAYS = "FxRatesAgeDays"
# Reported when nothing is stored at all: far over any threshold.
NOTHING_STORED_AGE_DAYS = 999


class RatesStore(Protocol):
    def put(self, rates: DailyRates) -> None: ...

    def latest_on_or_before(self, day: date) -> DailyRates | None: ...


@dataclass(frozen=True)
class RefreshReport:
    stored_day: date | None  # None: the feed was refused or unreachable
    newest_day: date | None
    age_days: int
    problem: str | None = None


def refresh(fetch: Callable[[], bytes], store: RatesStore, today: date) -> RefreshReport:
    stored_day = None
    problem = None
    try:
        rates = parse_daily_feed(fetch(), today)
    except FeedError as error:
        problem = str(error)
    else:
        store.put(rates)
        stored_day = rates.day
    newest = store.latest_on_or_before(today)
    age = (today - newest.day).days if newest else NOTHING_STORED_AGE_DAYS
    return RefreshReport(stored_day, newest.day if newest else None, age, problem)
