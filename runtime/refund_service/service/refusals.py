"""Every refusal is audited (SPEC 3.1): a change that writes one audit record and nothing else.

A refusal on a transaction that does not exist writes nothing: it counts a metric instead, so
requests for made-up ids cannot create items.
"""

from __future__ import annotations

from typing import Any

from refund_service import observability_names as names
from refund_service.domain.audit import AuditAction
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.service.changes import ChangeBuilder
from refund_service.service.context import Caller, Services, timestamp, with_retries
from refund_service.service.ports import TransactionState


def refusal_details(refusal: DomainError, **extra: Any) -> dict[str, Any]:
    return {
        "error_code": refusal.code.value,
        "message": refusal.message,
        **refusal.details,
        **{k: v for k, v in extra.items() if v is not None},
    }


def commit_refusal(
    services: Services,
    state: TransactionState,
    caller: Caller,
    action: AuditAction,
    refusal: DomainError,
    *,
    refund_id: str | None = None,
    amount: int | None = None,
    **extra: Any,
) -> None:
    """Audit `refusal` against the state it was decided on; ConcurrentUpdateError if the
    transaction moved on meanwhile (the caller decides again)."""
    if not state.summary.exists:
        services.metrics.count(names.REJECTED_UNKNOWN_TRANSACTION)
        return
    builder = ChangeBuilder(
        state, timestamp(services.clock()), caller.initiator, caller.correlation_id
    )
    builder.audit(
        action,
        refund_id=refund_id,
        amount=amount,
        currency=state.summary.currency,
        details=refusal_details(refusal, **extra),
    )
    services.store.commit(builder.build(as_fact=True))


def audit_key_reuse(services: Services, transaction_id: str, caller: Caller) -> None:
    """An Idempotency-Key sent again with another body: refused, and audited on the payment
    the new body names."""
    refusal = DomainError(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "This Idempotency-Key was used with a different request body.",
    )

    def attempt() -> None:
        state = services.store.load(transaction_id)
        commit_refusal(services, state, caller, AuditAction.IDEMPOTENCY_KEY_REUSED, refusal)

    with_retries(services, attempt)
