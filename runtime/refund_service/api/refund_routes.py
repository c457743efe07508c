"""`POST /refunds`, `GET /refunds/{refund_id}` and `POST /refunds/{refund_id}/rollback`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header

from refund_service.api import views
from refund_service.api.models import (
    ErrorResponse,
    RefundCreated,
    RefundRequest,
    RefundResponse,
    RollbackRequest,
)
from refund_service.api.openapi_links import REFUND_CREATED_LINKS
from refund_service.api.routing import (
    BODY_ERRORS,
    COMMON_ERRORS,
    RefundId,
    answer,
    caller_of,
    error,
    new_router,
    ok,
    scoped,
)
from refund_service.api.runtime import ApiRuntime
from refund_service.observability import logger
from refund_service.service import queries
from refund_service.service.settlement import rollback_refund

IdempotencyKey = Annotated[str, Header(alias="idempotency-key", min_length=1, max_length=255)]


def refund_router(get_runtime: Callable[[], ApiRuntime]) -> Router:
    router = new_router()

    @scoped(
        router,
        "POST",
        "/refunds",
        summary="Create a refund",
        responses={
            200: ok(RefundCreated, "The processor approved the refund", REFUND_CREATED_LINKS),
            202: ok(RefundCreated, "Submitted; the outcome is pending", REFUND_CREATED_LINKS),
            404: error("TRANSACTION_NOT_FOUND"),
            409: error(
                "TRANSACTION_PENDING, TRANSACTION_NOT_REFUNDABLE, "
                "CHARGEBACK_CONFLICT, ALREADY_REFUNDED, "
                "IDEMPOTENCY_IN_PROGRESS",
            ),
            422: error(
                "REFUND_WINDOW_EXPIRED, AMOUNT_EXCEEDS_REFUNDABLE, "
                "CURRENCY_MISMATCH, IDEMPOTENCY_KEY_REUSED, "
                "PROCESSOR_DECLINED",
            ),
            503: error("PROCESSOR_UNAVAILABLE: nothing was refunded; retry"),
            **BODY_ERRORS,
        },
        tags=["refunds"],
    )
    def create_refund(
        body: Annotated[RefundRequest, Body()], idempotency_key: IdempotencyKey
    ) -> Response[RefundCreated | ErrorResponse]:  # its stored refusals are answers too
        logger.thread_safe_append_keys(transaction_id=body.transaction_id)
        runtime = get_runtime()
        created = runtime.refunds.create(
            caller_of(router, runtime),
            idempotency_key,
            body.model_dump(exclude_none=True),
            router.lambda_context,
        )
        if created.refund_id:
            logger.thread_safe_append_keys(refund_id=created.refund_id)
        headers = {"Idempotent-Replayed": "true"} if created.replayed else {}
        model = RefundCreated if created.status_code < 300 else ErrorResponse
        return answer(created.status_code, model.model_validate(created.body), headers)

    @scoped(
        router,
        "GET",
        "/refunds/<refund_id>",
        summary="One refund with its status and entries",
        responses={
            200: ok(RefundResponse, "The refund"),
            404: error("REFUND_NOT_FOUND"),
            **COMMON_ERRORS,
        },
        tags=["refunds"],
    )
    def get_refund(refund_id: RefundId) -> Response[RefundResponse]:
        logger.thread_safe_append_keys(refund_id=refund_id)
        view = queries.get_refund(get_runtime().services.store, refund_id)
        return answer(200, views.refund_detail_view(view))

    @scoped(
        router,
        "POST",
        "/refunds/<refund_id>/rollback",
        summary="Reverse a refund",
        responses={
            200: ok(RefundResponse, "The refund, rolled back"),
            404: error("REFUND_NOT_FOUND"),
            409: error("REFUND_NOT_REVERSIBLE"),
            **BODY_ERRORS,
        },
        tags=["refunds"],
    )
    def rollback(
        refund_id: RefundId, body: Annotated[RollbackRequest, Body()]
    ) -> Response[RefundResponse]:
        logger.thread_safe_append_keys(refund_id=refund_id)
        runtime = get_runtime()
        services = runtime.services
        transaction_id = queries.locate_refund(services.store, refund_id)
        logger.thread_safe_append_keys(transaction_id=transaction_id)
        rollback_refund(
            services, transaction_id, refund_id, body.reason, caller_of(router, runtime)
        )
        view = queries.get_refund(services.store, refund_id)
        return answer(200, views.refund_detail_view(view))

    return router
