"""Amounts in a processor's own minor units.

The ledger counts in ISO 4217 minor units; a processor may count some currencies with other
decimals. Each table below lists only where the processor differs from ISO 4217:

- Stripe: ISK is a two-decimal currency in the API (whole krona, so multiples of 100), MGA is
  zero-decimal (docs.stripe.com/currencies, zero-decimal list and special cases).
- Adyen: CLP and ISK have two decimals, CVE and IDR none (docs.adyen.com/development-resources/
  currency-codes: "for CLP, CVE, IDR, and ISK the standard has a different number of decimals").

Scaling is exact integer arithmetic; an amount that cannot be expressed exactly is refused,
never rounded, so the processor is never asked for a different amount than the ledger holds.
"""

from __future__ import annotations

from collections.abc import Mapping

from refund_service.domain.money import minor_unit_exponent

STRIPE_EXPONENTS: Mapping[str, int] = {"ISK": 2, "MGA": 0}
ADYEN_EXPONENTS: Mapping[str, int] = {"CLP": 2, "CVE": 0, "IDR": 0, "ISK": 2}


class UnrepresentableAmountError(ValueError):
    """The amount has no exact equivalent in the other unit."""


def _shift(currency: str, overrides: Mapping[str, int]) -> int:
    """Decimals the processor uses beyond (positive) or below (negative) ISO 4217."""
    iso = minor_unit_exponent(currency)
    return overrides.get(currency, iso) - iso


def _scale(amount: int, shift: int, currency: str) -> int:
    factor: int = 10 ** abs(shift)
    if shift >= 0:
        return amount * factor
    quotient, remainder = divmod(amount, factor)
    if remainder:
        raise UnrepresentableAmountError(
            f"{amount} minor units of {currency} have no exact equivalent "
            f"with {-shift} fewer decimals"
        )
    return quotient


def to_processor_units(amount: int, currency: str, overrides: Mapping[str, int]) -> int:
    """ISO 4217 minor units to the processor's minor units."""
    return _scale(amount, _shift(currency, overrides), currency)


def from_processor_units(amount: int, currency: str, overrides: Mapping[str, int]) -> int:
    """The processor's minor units to ISO 4217 minor units."""
    return _scale(amount, -_shift(currency, overrides), currency)
