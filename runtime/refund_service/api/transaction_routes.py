"""`POST /transactions`, `.../complete`, and the reads of a payment: its ledger and audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from refund_service.api import views
from refund_service.api.models import (
    AuditResponse,
    LedgerPageResponse,
    LedgerResponse,
    PaymentRequest,
)
from refund_service.api.openapi_links import PAYMENT_RECORDED_LINKS
from refund_service.api.routing import (
    BODY_ERRORS,
    COMMON_ERRORS,
    PageCursor,
    PageLimit,
    TransactionId,
    answer,
    caller_of,
    error,
    new_router,
    ok,
    scoped,
)
from refund_service.api.runtime import ApiRuntime
from refund_service.domain.ledger import PaymentStatus
from refund_service.observability import logger
from refund_service.service import payments, queries


def payment_command(body: PaymentRequest) -> payments.PaymentCommand:
    return payments.PaymentCommand(
        transaction_id=body.transaction_id,
        amount=body.amount,
        currency=body.currency,
        status=PaymentStatus(body.status),
        captured_at=body.captured_at,
        tax_amount=body.tax_amount,
        fee_amount=body.fee_amount,
        settlement_currency=body.settlement_currency,
        fx_rate=body.fx_rate,
        customer_reference=body.customer_reference,
        processor_reference=body.processor_reference,
    )


def transaction_router(get_runtime: Callable[[], ApiRuntime]) -> Router:
    router = new_router()

    @scoped(
        router,
        "GET",
        "/transactions/<transaction_id>/ledger",
        summary="Summary and entries, a page at a time",
        responses={
            200: ok(LedgerPageResponse, "The ledger of one transaction: one page of entries"),
            404: error("TRANSACTION_NOT_FOUND"),
            **COMMON_ERRORS,
        },
        tags=["transactions"],
    )
    def get_ledger(
        transaction_id: TransactionId,
        limit: PageLimit = queries.DEFAULT_PAGE_LIMIT,
        cursor: PageCursor = None,
    ) -> Response[LedgerPageResponse]:
        logger.thread_safe_append_keys(transaction_id=transaction_id)
        store = get_runtime().services.store
        page = queries.get_ledger_page(store, transaction_id, limit, cursor)
        return answer(200, views.ledger_page_view(page))

    @scoped(
        router,
        "GET",
        "/transactions/<transaction_id>/audit",
        summary="Audit trail, a page at a time; the whole chain verified",
        responses={
            200: ok(AuditResponse, "One page of the audit trail"),
            404: error("TRANSACTION_NOT_FOUND"),
            **COMMON_ERRORS,
        },
        tags=["transactions"],
    )
    def get_audit(
        transaction_id: TransactionId,
        limit: PageLimit = queries.DEFAULT_PAGE_LIMIT,
        cursor: PageCursor = None,
    ) -> Response[AuditResponse]:
        logger.thread_safe_append_keys(transaction_id=transaction_id)
        store = get_runtime().services.store
        view = queries.get_audit(store, transaction_id, limit, cursor)
        return answer(200, views.audit_view(view))

    @scoped(
        router,
        "POST",
        "/transactions",
        summary="Record a payment",
        responses={
            201: ok(
                LedgerResponse, "Recorded (or the identical request again)", PAYMENT_RECORDED_LINKS
            ),
            409: error("TRANSACTION_EXISTS"),
            **BODY_ERRORS,
        },
        tags=["transactions"],
    )
    def record_payment(body: Annotated[PaymentRequest, Body()]) -> Response[LedgerResponse]:
        logger.thread_safe_append_keys(transaction_id=body.transaction_id)
        runtime = get_runtime()
        state = payments.record_payment(
            runtime.services, payment_command(body), caller_of(router, runtime)
        )
        return answer(201, views.ledger_view(state))

    @scoped(
        router,
        "POST",
        "/transactions/<transaction_id>/complete",
        summary="A pending payment completes",
        responses={
            200: ok(LedgerResponse, "The payment, completed"),
            404: error("TRANSACTION_NOT_FOUND"),
            409: error("TRANSACTION_NOT_REFUNDABLE"),
            **COMMON_ERRORS,
        },
        tags=["transactions"],
    )
    def complete(transaction_id: TransactionId) -> Response[LedgerResponse]:
        logger.thread_safe_append_keys(transaction_id=transaction_id)
        runtime = get_runtime()
        state = payments.complete_payment(
            runtime.services, transaction_id, caller_of(router, runtime)
        )
        return answer(200, views.ledger_view(state))

    return router
