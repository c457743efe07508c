"""What every resource's routes share: the documented scope (taken from the table the guard
enforces), the answers every route can give, path and page parameters, and the caller."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from refund_service.api.auth import ROUTE_SCOPES, Principal
from refund_service.api.models import ErrorResponse
from refund_service.api.runtime import ApiRuntime
from refund_service.service import queries
from refund_service.service.context import Caller

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

JSON = "application/json"
SECURITY_SCHEME = "bearerAuth"

TransactionId = Annotated[str, Path(min_length=1, max_length=128)]
RefundId = Annotated[str, Path(min_length=1, max_length=160)]
ChargebackIdPath = Annotated[str, Path(min_length=1, max_length=128)]
PageLimit = Annotated[
    int,
    Query(
        ge=1,
        le=queries.MAX_PAGE_LIMIT,
        description=f"Items per page, 1 to {queries.MAX_PAGE_LIMIT}",
    ),
]
PageCursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=512,
        description="`next_cursor` of the previous page; absent for the first page",
    ),
]


def error(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {JSON: {"model": ErrorResponse}}}


COMMON_ERRORS: dict[int, OpenAPIResponse] = {
    400: error("VALIDATION_ERROR"),
    401: error("UNAUTHORIZED: no or bad token"),
    403: error("FORBIDDEN: the token lacks the route's scope"),
    500: error("INTERNAL_ERROR, with a correlation id"),
}
# Routes that take a body can also refuse its media type.
BODY_ERRORS: dict[int, OpenAPIResponse] = {
    **COMMON_ERRORS,
    415: error("UNSUPPORTED_MEDIA_TYPE: the body is not application/json"),
}


def ok(
    model: type[BaseModel], description: str, links: dict[str, Any] | None = None
) -> OpenAPIResponse:
    answer: OpenAPIResponse = {"description": description, "content": {JSON: {"model": model}}}
    if links:
        answer["links"] = links
    return answer


def template_of(rule: str) -> str:
    """A resolver rule (`/refunds/<refund_id>`) as API Gateway and OpenAPI spell it."""
    return re.sub(r"<(\w+)>", r"{\1}", rule)


def security_for(method: str, rule: str) -> list[dict[str, list[str]]]:
    """The route's documented security: the scope the guard enforces for it (ROUTE_SCOPES).
    A route without a scope entry cannot be declared, so it cannot be documented as open."""
    return [{SECURITY_SCHEME: [ROUTE_SCOPES[(method, template_of(rule))]]}]


def new_router() -> Router:
    return Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated


def scoped(router: Router, method: str, rule: str, **options: Any) -> Callable[[Any], Any]:
    """`router.route` with `security=` taken from ROUTE_SCOPES."""
    return router.route(rule, method, security=security_for(method, rule), **options)


AnswerBody = TypeVar("AnswerBody")


def answer(
    status: int, body: AnswerBody, headers: dict[str, str] | None = None
) -> Response[AnswerBody]:
    """A JSON answer; the resolver validates and serializes a model body as the route declares."""
    return Response(status_code=status, content_type=JSON, body=body, headers=headers or {})


def caller_of(router: Router, runtime: ApiRuntime) -> Caller:
    """The audit trail's initiator for the request being served."""
    principal: Principal = router.context["principal"]
    event = cast("APIGatewayProxyEventV2", router.current_event)
    return runtime.caller(
        principal, event.request_context.http.source_ip, router.context.get("correlation_id")
    )
