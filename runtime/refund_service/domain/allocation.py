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


def allocate_refund(summary: Summary, amount: int, fee_policy: FeePolicy) -> RefundShares:
    """Tax and fee shares of one more refund of `amount` on the payment `summary` describes,
    after what its earlier live refunds reserved and took."""
    reserved_total = summary.reserved_amount + amount
    gross = summary.captured_amount
    tax_share = cumulative_share(summary.tax_amount, gross, reserved_total, summary.tax_taken)
    fee_share = 0
    if fee_policy is FeePolicy.PROPORTIONAL:
        fee_share = cumulative_share(summary.fee_amount, gross, reserved_total, summary.fee_taken)
    return RefundShares(tax=min(tax_share, amount), fee=fee_share)
