"""Money: ISO 4217 minor units, exact half-even rounding, Decimal conversions."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refund_service.domain.errors import ErrorCode, UnknownCurrencyError
from refund_service.domain.money import (
    from_decimal,
    minor_unit_exponent,
    round_half_even,
    to_decimal,
    validate_currency,
)

CURRENCIES = ["JPY", "USD", "EUR", "KWD", "CLF", "BHD", "GBP"]


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("JPY", 0), ("KRW", 0), ("USD", 2), ("EUR", 2), ("KWD", 3), ("BHD", 3), ("CLF", 4)],
)
def test_minor_unit_exponent_comes_from_iso4217(currency: str, exponent: int) -> None:
    assert minor_unit_exponent(currency) == exponent
    assert validate_currency(currency) == currency


@pytest.mark.parametrize(
    "code",
    [
        "ABC",  # well-formed but not assigned
        "usd",  # lower case
        "Usd",
        "US",  # too short
        "USDX",  # too long
        "",
        " USD",
        123,  # not a string at all
        None,
        "XXX",  # ISO 4217 "no currency": no minor unit
        "XTS",  # reserved for testing: no minor unit
        "XAU",  # gold: no minor unit
    ],
)
def test_unknown_currency_is_a_validation_error(code: object) -> None:
    # When an unknown or malformed code is looked up
    with pytest.raises(UnknownCurrencyError) as raised:
        minor_unit_exponent(code)  # type: ignore[arg-type]
    # Then the refusal carries the catalog code and names the field
    assert raised.value.code is ErrorCode.VALIDATION_ERROR
    assert raised.value.details == {"field": "currency"}
    assert repr(code) in raised.value.message
    with pytest.raises(UnknownCurrencyError):
        validate_currency(code)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (0, 2, 0),
        (1, 2, 0),  # 0.5 -> 0 (even)
        (3, 2, 2),  # 1.5 -> 2 (even)
        (5, 2, 2),  # 2.5 -> 2 (even)
        (7, 2, 4),  # 3.5 -> 4
        (-1, 2, 0),  # -0.5 -> 0
        (-3, 2, -2),  # -1.5 -> -2
        (-5, 2, -2),  # -2.5 -> -2
        (-7, 2, -4),  # -3.5 -> -4
        (1, 3, 0),  # 0.333 -> 0
        (2, 3, 1),  # 0.667 -> 1
        (-2, 3, -1),
        (-1, 3, 0),
        (10, 5, 2),  # exact
        (15, 10, 2),  # 1.5 -> 2
        (25, 10, 2),  # 2.5 -> 2
        (26, 10, 3),
        (10**30 + 1, 2 * 10**30, 1),  # 0.5000...0005 is above the tie
        (10**30 + 1, 2, (10**30) // 2),  # 5e29 + 0.5 -> even 5e29
    ],
)
def test_round_half_even_table(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_even(numerator, denominator) == expected


@pytest.mark.parametrize("denominator", [0, -1, -2])
def test_round_half_even_refuses_non_positive_denominators(denominator: int) -> None:
    with pytest.raises(ValueError, match="denominator"):
        round_half_even(1, denominator)


@settings(max_examples=200)
@given(st.integers(-(10**40), 10**40), st.integers(1, 10**20))
def test_round_half_even_matches_exact_rational_rounding(numerator: int, denominator: int) -> None:
    # Fraction.__round__ rounds half to even, exactly
    assert round_half_even(numerator, denominator) == round(Fraction(numerator, denominator))


@pytest.mark.parametrize(
    ("amount", "currency", "major"),
    [
        (12345, "JPY", "12345"),
        (12345, "USD", "123.45"),
        (12345, "KWD", "12.345"),
        (12345, "CLF", "1.2345"),
        (5, "USD", "0.05"),
        (-250, "USD", "-2.50"),
        (0, "KWD", "0.000"),
    ],
)
def test_to_decimal_and_back(amount: int, currency: str, major: str) -> None:
    assert to_decimal(amount, currency) == Decimal(major)
    assert from_decimal(Decimal(major), currency) == amount


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("0.5", "JPY", 0),
        ("1.5", "JPY", 2),
        ("2.5", "JPY", 2),
        ("-0.5", "JPY", 0),
        ("-1.5", "JPY", -2),
        ("1.005", "USD", 100),  # 100.5 cents -> 100
        ("1.015", "USD", 102),  # 101.5 cents -> 102
        ("1.0051", "USD", 101),  # above the tie
        ("0.0125", "KWD", 12),  # 12.5 fils -> 12
        ("0.00005", "CLF", 0),
        ("0.00015", "CLF", 2),
        ("10", "USD", 1000),
    ],
)
def test_from_decimal_rounds_half_even(value: str, currency: str, minor: int) -> None:
    result = from_decimal(Decimal(value), currency)
    assert result == minor
    assert type(result) is int


@settings(max_examples=200)
@given(st.integers(-(10**15), 10**15), st.sampled_from(CURRENCIES))
def test_minor_units_round_trip_through_decimal(amount: int, currency: str) -> None:
    # Given any amount in minor units
    major = to_decimal(amount, currency)
    # Then the major-unit value has exactly the currency's decimals and converts back unchanged
    assert major == Fraction(amount, 10 ** minor_unit_exponent(currency))
    assert from_decimal(major, currency) == amount


@settings(max_examples=200)
@given(
    st.decimals(min_value=-(10**9), max_value=10**9, places=6, allow_nan=False),
    st.sampled_from(CURRENCIES),
)
def test_from_decimal_is_the_nearest_minor_unit(value: Decimal, currency: str) -> None:
    scale = 10 ** minor_unit_exponent(currency)
    # Fraction rounds half to even: the exact nearest minor unit
    assert from_decimal(value, currency) == round(Fraction(value) * scale)
