"""Refunds of every status, in several currencies, through the service layer (fast on moto)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from refund_service.domain.refund import Refund, RefundReason, RefundStatus
from refund_service.service.refunds import RefundCommand, request_refund
from refund_service.service.settlement import rollback_refund
from tests.support.world import USER, World

# status -> what the simulated processor is told to do
SIMULATE = {
    RefundStatus.SUCCESS: "approve",
    RefundStatus.PENDING: "timeout",
    RefundStatus.FAILED: "decline",
    RefundStatus.ROLLED_BACK: "approve",
}
# currency -> the payment's settlement currency and capture rate (None: settled as is)
SETTLEMENT: dict[str, tuple[str, str] | None] = {
    "USD": None,
    "EUR": ("USD", "1.05"),
    "JPY": None,
    "GBP": ("EUR", "1.12"),
}


def refund_with_status(
    world: World, transaction_id: str, status: RefundStatus, amount: int, **fields: Any
) -> Refund:
    """One refund on a payment, left in `status`."""
    command = RefundCommand(
        transaction_id,
        RefundReason.OTHER,
        amount,
        metadata={"simulate": SIMULATE[status]},
        **fields,
    )
    refund = request_refund(world.services, command, USER).refund
    assert refund.status is (RefundStatus.SUCCESS if status is RefundStatus.ROLLED_BACK else status)
    if status is RefundStatus.ROLLED_BACK:
        refund, _ = rollback_refund(world.services, transaction_id, refund.refund_id, "test", USER)
    return refund


def pay_in(world: World, currency: str, amount: int, tax: int = 0, fee: int = 0) -> str:
    settlement = SETTLEMENT.get(currency)
    extra: dict[str, Any] = {}
    if settlement is not None:
        extra = {"settlement_currency": settlement[0], "fx_rate": settlement[1]}
    return world.pay(amount=amount, currency=currency, tax=tax, fee=fee, **extra)


@dataclass
class Mix:
    refunds: list[Refund]

    def count(self) -> Counter[tuple[str, RefundStatus]]:
        return Counter((r.currency, r.status) for r in self.refunds)


def make_mix(world: World, count: int, seconds_apart: float = 7.0) -> Mix:
    """`count` refunds cycling through currencies and statuses, one payment each, the clock
    moving on between them (so they spread over the hours of the day)."""
    currencies = list(SETTLEMENT)
    statuses = list(SIMULATE)
    made = []
    for n in range(count):
        currency = currencies[n % len(currencies)]
        status = statuses[(n // len(currencies)) % len(statuses)]
        transaction_id = pay_in(world, currency, 10_000 + n, tax=1_000, fee=250)
        made.append(refund_with_status(world, transaction_id, status, 1_000 + 7 * n))
        world.clock.advance(seconds=seconds_apart)
    return Mix(made)
