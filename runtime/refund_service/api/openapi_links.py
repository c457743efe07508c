"""OpenAPI links: where an answer's ids lead next.

They tell a client, and `make fuzz`'s stateful phase, how to follow a payment to its ledger,
audit trail, chargebacks and refunds, and a refund to its detail and its rollback, with ids that
exist. The operation ids are the resolver's own (function, path and method); a unit test checks
that every link names an operation of the document and parameters it takes.
"""

from __future__ import annotations

from typing import Any

CREATE_REFUND = "create_refund_refunds_post"
GET_REFUND = "get_refund_refunds__refund_id__get"
ROLLBACK = "rollback_refunds__refund_id__rollback_post"
GET_LEDGER = "get_ledger_transactions__transaction_id__ledger_get"
GET_AUDIT = "get_audit_transactions__transaction_id__audit_get"
COMPLETE = "complete_transactions__transaction_id__complete_post"
RECORD_CHARGEBACK = "chargeback_transactions__transaction_id__chargebacks_post"
RESOLVE_CHARGEBACK = (
    "resolve_chargeback_transactions__transaction_id__chargebacks__chargeback_id__resolve_post"
)
SEARCH_REFUNDS = "search_refunds_refunds_get"


def link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters, "description": description}


def _payment_links(transaction_id: str) -> dict[str, Any]:
    """Links from an answer that names a payment, `transaction_id` locating its id."""
    return {
        "ledger": link(GET_LEDGER, "The payment's ledger", transaction_id=transaction_id),
        "audit": link(GET_AUDIT, "The payment's audit trail", transaction_id=transaction_id),
        "chargeback": link(
            RECORD_CHARGEBACK, "Record a chargeback on it", transaction_id=transaction_id
        ),
        "refunds": link(SEARCH_REFUNDS, "The payment's refunds", transaction_id=transaction_id),
    }


PAYMENT_ID = "$response.body#/summary/transaction_id"

PAYMENT_RECORDED_LINKS: dict[str, Any] = {
    **_payment_links(PAYMENT_ID),
    "complete": link(COMPLETE, "Complete it, when pending", transaction_id=PAYMENT_ID),
    "refund": {
        "operationId": CREATE_REFUND,
        "requestBody": {"transaction_id": PAYMENT_ID},
        "description": "Refund it (the rest of the body is the caller's)",
    },
}

REFUND_ID = "$response.body#/refund_transaction_id"

REFUND_CREATED_LINKS: dict[str, Any] = {
    "refund": link(GET_REFUND, "The refund, with its status and entries", refund_id=REFUND_ID),
    "rollback": link(ROLLBACK, "Reverse the refund", refund_id=REFUND_ID),
    **_payment_links("$request.body#/transaction_id"),
}

CHARGEBACK_RECORDED_LINKS: dict[str, Any] = {
    "resolve": link(
        RESOLVE_CHARGEBACK,
        "Resolve the dispute",
        transaction_id="$request.path.transaction_id",
        chargeback_id="$response.body#/chargeback_id",
    ),
    "ledger": link(GET_LEDGER, "The payment's ledger", transaction_id=PAYMENT_ID),
}

# The next page: the same request with `cursor` set to this answer's `next_cursor`.
SEARCH_NEXT_PAGE_LINKS: dict[str, Any] = {
    "next": link(
        SEARCH_REFUNDS,
        "The next page, while `next_cursor` is not null.",
        cursor="$response.body#/next_cursor",
        transaction_id="$request.query.transaction_id",
        status="$request.query.status",
        created_from="$request.query.created_from",
        created_to="$request.query.created_to",
        limit="$request.query.limit",
    )
}
