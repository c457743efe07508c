"""Live FX rates: the scheduled refresh stores the ECB feed's day in DynamoDB (moto), refunds
quote from the stored day with one GetItem, then the latest stored day, then the bundled
history; the FX entry names the day and which source served it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from refund_service.adapters.dynamodb.fx_rates import DynamoDBRatesStore
from refund_service.adapters.ecb_feed import DailyRates, FeedError
from refund_service.adapters.ecb_rates import SOURCE, STORED_SOURCE, StoredEcbRateSource
from refund_service.domain.fx import RateUnavailableError
from refund_service.domain.ledger import EntryType
from refund_service.domain.refund import RefundReason
from refund_service.handlers import fx_rates as fx_rates_handler
from refund_service.service.fx_rates import NOTHING_STORED_AGE_DAYS, refresh
from refund_service.service.refunds import RefundCommand, request_refund
from tests.support.world import USER, World

RECORDED = (
    Path(__file__).parents[1] / "adapters" / "data" / "eurofxref-daily-2026-10-30.xml"
).read_bytes()
PUBLISHED = date(2026, 10, 30)


@pytest.fixture
def store(world: World) -> DynamoDBRatesStore:
    return DynamoDBRatesStore(world.client, world.tables["FxRates"])


def day(on: date, usd: str) -> DailyRates:
    return DailyRates(on, {"USD": Decimal(usd), "GBP": Decimal("0.8338")})


class CountingStore:
    """The real store, counting the requests a quote makes."""

    def __init__(self, inner: DynamoDBRatesStore) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def on(self, on: date) -> DailyRates | None:
        self.calls.append("GetItem")
        return self.inner.on(on)

    def latest_on_or_before(self, on: date) -> DailyRates | None:
        self.calls.append("Query")
        return self.inner.latest_on_or_before(on)


def test_refresh_stores_the_recorded_feed_and_reports_its_age(store: DynamoDBRatesStore) -> None:
    report = refresh(lambda: RECORDED, store, today=date(2026, 11, 2))

    assert report.stored_day == PUBLISHED
    assert report.age_days == 3
    assert report.problem is None
    stored = store.on(PUBLISHED)
    assert stored is not None
    assert stored.per_euro["USD"] == Decimal("1.1172")
    assert len(stored.per_euro) == 29


def test_a_stale_feed_is_not_stored_and_the_age_still_reported(store: DynamoDBRatesStore) -> None:
    store.put(day(date(2026, 10, 29), "1.1100"))

    report = refresh(lambda: RECORDED, store, today=date(2026, 11, 5))

    assert report.stored_day is None
    assert report.problem is not None and "stale" in report.problem
    assert store.on(PUBLISHED) is None
    assert report.newest_day == date(2026, 10, 29)
    assert report.age_days == 7


def test_nothing_stored_reports_an_age_over_any_threshold(store: DynamoDBRatesStore) -> None:
    report = refresh(lambda: b"<html/>", store, today=PUBLISHED)

    assert report.age_days == NOTHING_STORED_AGE_DAYS


def test_the_handler_fails_the_run_on_a_refused_feed_after_reporting_age(
    store: DynamoDBRatesStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    measured: list[tuple[str, float]] = []
    monkeypatch.setattr(fx_rates_handler, "fetch_feed", lambda: b"<html/>")
    monkeypatch.setattr(
        fx_rates_handler.PowertoolsMetricsSink,
        "measure",
        lambda self, name, value, unit: measured.append((name, value)),
    )
    store.put(day(PUBLISHED, "1.1172"))

    with pytest.raises(FeedError):
        fx_rates_handler.run_once(store, today=date(2026, 11, 2))
    assert measured == [("FxRatesAgeDays", 3)]


def test_the_handler_stores_a_good_feed(
    store: DynamoDBRatesStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fx_rates_handler, "fetch_feed", lambda: RECORDED)

    result = fx_rates_handler.run_once(store, today=PUBLISHED)

    assert result == {"stored_day": "2026-10-30", "newest_day": "2026-10-30", "age_days": 0}


def test_todays_rates_take_one_get_item(store: DynamoDBRatesStore) -> None:
    store.put(day(PUBLISHED, "1.1172"))
    counting = CountingStore(store)

    quote = StoredEcbRateSource(counting).quote("EUR", "USD", PUBLISHED)

    assert counting.calls == ["GetItem"]
    assert (quote.rate, quote.date, quote.source) == ("1.1172", "2026-10-30", STORED_SOURCE)


def test_a_day_without_publication_uses_the_latest_stored_day(store: DynamoDBRatesStore) -> None:
    store.put(day(PUBLISHED - timedelta(days=1), "1.1000"))
    store.put(day(PUBLISHED, "1.1172"))
    store.put(day(PUBLISHED + timedelta(days=5), "1.2000"))  # after the requested date
    counting = CountingStore(store)

    quote = StoredEcbRateSource(counting).quote("EUR", "USD", date(2026, 11, 1))  # a Sunday

    assert counting.calls == ["GetItem", "Query"]
    assert (quote.rate, quote.date) == ("1.1172", "2026-10-30")


def test_cross_rates_go_through_the_euro(store: DynamoDBRatesStore) -> None:
    store.put(day(PUBLISHED, "1.1172"))

    quote = StoredEcbRateSource(store).quote("GBP", "USD", PUBLISHED)

    assert Decimal(quote.rate) == (Decimal("1.1172") / Decimal("0.8338")).quantize(
        Decimal("0.000000001")
    )
    assert StoredEcbRateSource(store).quote("USD", "EUR", PUBLISHED).rate == str(
        (Decimal(1) / Decimal("1.1172")).quantize(Decimal("0.0000000001")).normalize()
    )


def test_a_currency_the_stored_day_lacks_is_unavailable(store: DynamoDBRatesStore) -> None:
    store.put(day(PUBLISHED, "1.1172"))

    with pytest.raises(RateUnavailableError):
        StoredEcbRateSource(store).quote("EUR", "XYZ", PUBLISHED)


def test_with_nothing_stored_the_bundled_history_serves_and_says_so(
    store: DynamoDBRatesStore,
) -> None:
    quote = StoredEcbRateSource(store).quote("EUR", "USD", PUBLISHED)

    assert quote.source == SOURCE
    assert "bundled" in quote.source
    assert quote.rate == "1.1172"  # the bundled history's own 2026-10-30 publication


def test_a_refunds_fx_entry_names_the_stored_day(world: World, store: DynamoDBRatesStore) -> None:
    today = world.clock.now.date()
    store.put(day(today - timedelta(days=1), "1.1000"))
    world.services.rates = StoredEcbRateSource(store)
    tid = world.pay(amount=10_000, currency="EUR", settlement_currency="USD", fx_rate="1.05")

    request_refund(world.services, RefundCommand(tid, RefundReason.OTHER, 4_000), USER)

    (entry,) = [e for e in world.store.load(tid).entries if e.type is EntryType.FX_ADJUSTMENT]
    assert entry.fx is not None
    assert entry.fx.source == STORED_SOURCE
    assert entry.fx.date == (today - timedelta(days=1)).isoformat()
    assert entry.fx.rate == "1.1"
    assert entry.amount == round((Decimal("1.1") - Decimal("1.05")) * 4_000)
