"""Money: integer amounts in the currency's ISO 4217 minor unit.

Exponents come from the maintained `iso4217` data package, never from a hand-typed table.
Divisions use integer arithmetic with round-half-even, so no float ever touches an amount.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache

from iso4217 import Currency

from refund_service.domain.errors import UnknownCurrencyError


def minor_unit_exponent(currency: str) -> int:
    """Number of decimals of the currency's minor unit (JPY 0, USD 2, KWD 3, CLF 4)."""
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper():
        raise UnknownCurrencyError(currency)
    return _exponent(currency)


@cache
def _exponent(currency: str) -> int:
    try:
        exponent = Currency(currency).exponent
    except ValueError:
        raise UnknownCurrencyError(currency) from None
    if exponent is None:  # funds and metals (XAU, XDR...) have no minor unit
        raise UnknownCurrencyError(currency)
    return int(exponent)


def validate_currency(currency: str) -> str:
    minor_unit_exponent(currency)
    return currency


def round_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, ties to even, exactly."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units to a major-unit Decimal, for display and conversion only."""
    return Decimal(amount).scaleb(-minor_unit_exponent(currency))


def from_decimal(value: Decimal, currency: str) -> int:
    """A major-unit Decimal to minor units, rounded half-even."""
    scaled = value.scaleb(minor_unit_exponent(currency))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
