"""`POST /transactions/{transaction_id}/chargebacks` and `.../chargebacks/{id}/resolve`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from refund_service.api import views
from refund_service.api.models import (
    ChargebackRequest,
    ChargebackResponse,
    ResolveChargebackRequest,
)
from refund_service.api.openapi_links import CHARGEBACK_RECORDED_LINKS
from refund_service.api.routing import (
    BODY_ERRORS,
    ChargebackIdPath,
    TransactionId,
    answer,
    caller_of,
    error,
    new_router,
    ok,
    scoped,
)
from refund_service.api.runtime import ApiRuntime
from refund_service.domain.chargeback import DisputeOutcome
from refund_service.observability import logger
from refund_service.service import payments


def chargeback_router(get_runtime: Callable[[], ApiRuntime]) -> Router:
    router = new_router()

    @scoped(
        router,
        "POST",
        "/transactions/<transaction_id>/chargebacks",
        summary="Record a chargeback",
        description="Booked in full, up to the captured amount, whatever was refunded or is "
        "pending. The same chargeback_id again is a replay. While it stands nothing is "
        "refundable.",
        responses={
            201: ok(
                ChargebackResponse,
                "The chargeback and the ledger with it",
                CHARGEBACK_RECORDED_LINKS,
            ),
            404: error("TRANSACTION_NOT_FOUND"),
            409: error("TRANSACTION_PENDING, TRANSACTION_NOT_REFUNDABLE"),
            **BODY_ERRORS,
        },
        tags=["transactions"],
    )
    def chargeback(
        transaction_id: TransactionId, body: Annotated[ChargebackRequest | None, Body()] = None
    ) -> Response[ChargebackResponse]:
        logger.thread_safe_append_keys(transaction_id=transaction_id)
        body = body or ChargebackRequest()
        command = payments.ChargebackCommand(
            transaction_id,
            body.amount,
            body.reason,
            body.processor_reference,
            body.chargeback_id,
        )
        runtime = get_runtime()
        outcome = payments.record_chargeback(runtime.services, command, caller_of(router, runtime))
        return answer(201, views.chargeback_view(outcome.chargeback, outcome.state))

    @scoped(
        router,
        "POST",
        "/transactions/<transaction_id>/chargebacks/<chargeback_id>/resolve",
        summary="A dispute is won or lost",
        description="won books CHARGEBACK_REVERSAL and makes refundable again what was "
        "refundable before the chargeback; lost books nothing more.",
        responses={
            200: ok(ChargebackResponse, "The resolved chargeback and the ledger"),
            404: error("TRANSACTION_NOT_FOUND, CHARGEBACK_NOT_FOUND"),
            409: error("CHARGEBACK_ALREADY_RESOLVED"),
            **BODY_ERRORS,
        },
        tags=["transactions"],
    )
    def resolve_chargeback(
        transaction_id: TransactionId,
        chargeback_id: ChargebackIdPath,
        body: Annotated[ResolveChargebackRequest, Body()],
    ) -> Response[ChargebackResponse]:
        logger.thread_safe_append_keys(transaction_id=transaction_id)
        runtime = get_runtime()
        outcome = payments.resolve_chargeback(
            runtime.services,
            transaction_id,
            chargeback_id,
            DisputeOutcome(body.outcome),
            caller_of(router, runtime),
        )
        return answer(200, views.chargeback_view(outcome.chargeback, outcome.state))

    return router
