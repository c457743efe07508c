"""Every refusal is audited (SPEC 3.1): a change that writes one audit record and nothing else.

A refusal on a transaction that does not exist writes nothing: it counts a metric instead, so
requests for made-up ids cannot create items.
"""

from __future__ import annotations

from typing import Any

from refund_service import observability_names as names
from refund_service.domain.audit import AuditAction
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.service import unit_of_work
from refund_service.service.changes import ChangeBuilder
from refund_service.service.context import Caller, Services
from refund_service.service.unit_of_work import Count, Decision, Refusal


def refusal_details(refusal: DomainError, **extra: Any) -> dict[str, Any]:
    return {
        "error_code": refusal.code.value,
        "message": refusal.message,
        **refusal.details,
        **{k: v for k, v in extra.items() if v is not None},
    }


def unknown_transaction(refusal: DomainError) -> Refusal:
    """A refusal with no transaction to audit it on: counted, never stored."""
    return Refusal(refusal, counts=(Count(names.REJECTED_UNKNOWN_TRANSACTION),))


def audited_refusal(
    builder: ChangeBuilder,
    action: AuditAction,
    refusal: DomainError,
    *,
    refund_id: str | None = None,
    amount: int | None = None,
    **extra: Any,
) -> Refusal:
    """`refusal`, audited on the state `builder` holds (nothing may be added to it yet)."""
    if not builder.summary.exists:
        return unknown_transaction(refusal)
    builder.audit(
        action,
        refund_id=refund_id,
        amount=amount,
        currency=builder.summary.currency,
        details=refusal_details(refusal, **extra),
    )
    return Refusal(refusal, builder.build(as_fact=True))


def audit_key_reuse(services: Services, transaction_id: str, caller: Caller) -> None:
    """An Idempotency-Key sent again with another body: refused, and audited on the payment
    the new body names."""
    refusal = DomainError(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "This Idempotency-Key was used with a different request body.",
    )

    def decide(builder: ChangeBuilder) -> Decision[None]:
        return audited_refusal(builder, AuditAction.IDEMPOTENCY_KEY_REUSED, refusal).recorded()

    unit_of_work.change(services, transaction_id, caller, decide)
