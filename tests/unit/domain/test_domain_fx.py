"""Currency conversion and FX adjustments, against numbers worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refund_service.domain.errors import ErrorCode
from refund_service.domain.fx import RateUnavailableError, convert, fx_difference, parse_rate


@pytest.mark.parametrize(
    ("amount", "currency", "rate", "target", "expected"),
    [
        # EUR 10.00 at 1.1 = USD 11.00; at 1.2 = USD 12.00
        (1000, "EUR", "1.1", "USD", 1100),
        (1000, "EUR", "1.2", "USD", 1200),
        # JPY 1234 at 0.0067 = USD 8.2678 -> 827 cents
        (1234, "JPY", "0.0067", "USD", 827),
        # JPY 1 at 0.125 = USD 0.125 = 12.5 cents -> 12 (tie to even)
        (1, "JPY", "0.125", "USD", 12),
        # JPY 3 at 0.125 = USD 0.375 = 37.5 cents -> 38 (tie to even)
        (3, "JPY", "0.125", "USD", 38),
        # USD 10.50 at 150.5 = JPY 1580.25 -> 1580
        (1050, "USD", "150.5", "JPY", 1580),
        # USD 10.00 at 0.30725 = KWD 3.0725 = 3072.5 fils -> 3072 (tie to even)
        (1000, "USD", "0.30725", "KWD", 3072),
        # KWD 1.000 at 3.2546 = USD 3.2546 -> 325 cents
        (1000, "KWD", "3.2546", "USD", 325),
        # EUR 0.01 at 0.5 = USD 0.005 = 0.5 cents -> 0 (tie to even)
        (1, "EUR", "0.5", "USD", 0),
        (0, "EUR", "1.1", "USD", 0),
    ],
)
def test_convert_known_numbers(
    amount: int, currency: str, rate: str, target: str, expected: int
) -> None:
    assert convert(amount, currency, Decimal(rate), target) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "settlement", "capture", "current", "expected"),
    [
        # EUR 10.00 captured at 1.1 (USD 11.00), refunded at 1.2 (USD 12.00): loss of 100 cents
        (1000, "EUR", "USD", "1.1", "1.2", 100),
        # the other way round: the refund costs less than at capture, a gain
        (1000, "EUR", "USD", "1.2", "1.1", -100),
        (1000, "EUR", "USD", "1.1", "1.1", 0),
        # JPY 10000 at 0.0067 = USD 67.00; at 0.0065 = USD 65.00
        (10000, "JPY", "USD", "0.0067", "0.0065", -200),
        # JPY 1234: 0.0067 -> 827 cents, 0.0068 -> 839.12 -> 839 cents
        (1234, "JPY", "USD", "0.0067", "0.0068", 12),
        # EUR 3.33 at 1.0837 = USD 3.608721 -> 361; at 1.0912 = 3.633696 -> 363
        (333, "EUR", "USD", "1.0837", "1.0912", 2),
    ],
)
def test_fx_difference_known_numbers(
    amount: int, currency: str, settlement: str, capture: str, current: str, expected: int
) -> None:
    difference = fx_difference(amount, currency, settlement, Decimal(capture), Decimal(current))
    assert difference == expected


@settings(max_examples=150)
@given(
    st.integers(0, 10**12),
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(1000), places=4),
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(1000), places=4),
)
def test_fx_difference_is_antisymmetric_in_the_rates(
    amount: int, capture: Decimal, current: Decimal
) -> None:
    forward = fx_difference(amount, "EUR", "USD", capture, current)
    assert forward == -fx_difference(amount, "EUR", "USD", current, capture)
    # a higher current rate never yields a gain, a lower one never a loss
    if current >= capture:
        assert forward >= 0
    else:
        assert forward <= 0


@pytest.mark.parametrize(("value", "expected"), [("1.1", "1.1"), ("157.027887", "157.027887")])
def test_parse_rate_accepts_positive_decimals(value: str, expected: str) -> None:
    assert parse_rate(value) == Decimal(expected)


@pytest.mark.parametrize("value", ["0", "-1.1", "abc", "", "NaN", "Infinity", "1,1"])
def test_parse_rate_refuses_anything_else(value: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(value)


def test_rate_unavailable_is_a_currency_mismatch() -> None:
    error = RateUnavailableError("EUR", "KWD")
    assert error.code is ErrorCode.CURRENCY_MISMATCH
    assert error.details == {"from": "EUR", "to": "KWD"}
