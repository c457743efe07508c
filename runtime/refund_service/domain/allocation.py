"""Tax and fee shares of partial refunds, allocated cumulatively (SPEC section 2).

After refunds totalling r of a payment of gross g, the component refunded so far is
round(component * r / g). Each refund takes the difference between that target and what
earlier live refunds already took, so any sequence adding up to g returns the component
exactly and no share is ever negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from refund_service.domain.money import round_half_even
from refund_service.domain.summary import Summary


class FeePolicy(StrEnum):
    NONE = "none"  # the processor keeps its fee (Stripe's and Adyen's default)
    PROPORTIONAL = "proportional"


def cumulative_share(component: int, gross: int, reserved_total: int, already_taken: int) -> int:
    """Share of `component` for a refund that brings the reserved total to `reserved_total`.

    `already_taken` is the part of the component held by earlier live refunds.
    """
    if gross <= 0 or not 0 <= reserved_total <= gross:
        raise ValueError("reserved total must lie between 0 and the gross amount")
    target = round_half_even(component * reserved_total, gross)
    return max(0, min(target, component) - already_taken)


@dataclass(frozen=True)
class RefundShares:
    tax: int
    fee: int


def allocate_refund(
    *,
    amount: int,
    gross: int,
    tax: int,
    fee: int,
    reserved_before: int,
    tax_taken: int,
    fee_taken: int,
    fee_policy: FeePolicy,
) -> RefundShares:
    """Tax and fee shares of a refund of `amount` after `reserved_before` was already reserved."""
    reserved_total = reserved_before + amount
    tax_share = cumulative_share(tax, gross, reserved_total, tax_taken)
    fee_share = 0
    if fee_policy is FeePolicy.PROPORTIONAL:
        fee_share = cumulative_share(fee, gross, reserved_total, fee_taken)
    return RefundShares(tax=min(tax_share, amount), fee=fee_share)


def allocate_on(summary: Summary, amount: int, fee_policy: FeePolicy) -> RefundShares:
    """`allocate_refund` for one more refund of `amount` on the payment `summary` describes."""
    return allocate_refund(
        amount=amount,
        gross=summary.captured_amount,
        tax=summary.tax_amount,
        fee=summary.fee_amount,
        reserved_before=summary.reserved_amount,
        tax_taken=summary.tax_taken,
        fee_taken=summary.fee_taken,
        fee_policy=fee_policy,
    )
