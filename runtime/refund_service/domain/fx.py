"""Multi-currency: settlement amounts and FX adjustments, with Decimal and ROUND_HALF_EVEN."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Protocol

from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.ledger import FxQuote
from refund_service.domain.money import from_decimal, to_decimal


class RateSource(Protocol):
    """Where current conversion rates come from (the ECB reference rates by default)."""

    def quote(self, base: str, quote: str, on: date) -> FxQuote:
        """Units of `quote` per unit of `base`, as published on or before `on`."""
        ...


class RateUnavailableError(DomainError):
    def __init__(self, base: str, quote: str):
        super().__init__(
            ErrorCode.CURRENCY_MISMATCH,
            f"No conversion rate from {base} to {quote} is available.",
            {"from": base, "to": quote},
        )


def parse_rate(value: str) -> Decimal:
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a decimal rate: {value!r}") from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"a rate must be a positive decimal: {value!r}")
    return rate


def convert(amount: int, currency: str, rate: Decimal, target: str) -> int:
    """`amount` minor units of `currency` in minor units of `target`, rounded half-even."""
    return from_decimal(to_decimal(amount, currency) * rate, target)


def fx_difference(
    amount: int,
    currency: str,
    settlement_currency: str,
    capture_rate: Decimal,
    current_rate: Decimal,
) -> int:
    """What the refund costs in settlement currency now, minus what it cost at capture."""
    return convert(amount, currency, current_rate, settlement_currency) - convert(
        amount, currency, capture_rate, settlement_currency
    )
