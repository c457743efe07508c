"""`GET /refunds` (search) and `GET /reports/refunds` (one day's totals): SPEC section 4.1."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict

from refund_service.api import views
from refund_service.api.models import CurrencyCode, ErrorResponse
from refund_service.api.runtime import ApiRuntime
from refund_service.service import search
from refund_service.service.search import IndexedRefund, ReportRow, SearchQuery

JSON = "application/json"
CSV = "text/csv"
SECURITY = [{"bearerAuth": ["refunds:read"]}]
REPORT_COLUMNS = (
    "currency",
    "status",
    "count",
    "amount",
    "tax_amount",
    "fee_amount",
    "fx_adjustment_amount",
)

StatusName = Literal["pending", "success", "failed", "rolled_back"]


class RefundFound(BaseModel):
    model_config = ConfigDict(extra="allow")
    refund_transaction_id: str
    transaction_id: str
    status: StatusName
    amount: int
    currency: str
    tax_amount: int
    fee_amount: int
    fx_adjustment_amount: int
    reason: str
    processor: dict[str, Any] | None
    created_at: str
    updated_at: str


class SearchResponse(BaseModel):
    refunds: list[RefundFound]
    next_cursor: str | None


class ReportRowModel(BaseModel):
    currency: str
    status: StatusName
    count: int
    amount: int
    tax_amount: int
    fee_amount: int
    fx_adjustment_amount: int


class ReportResponse(BaseModel):
    date: str
    rows: list[ReportRowModel]


def _error(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {JSON: {"model": ErrorResponse}}}


ERRORS: dict[int, OpenAPIResponse] = {
    400: _error("VALIDATION_ERROR: a bad parameter or a cursor this search did not issue"),
    401: _error("UNAUTHORIZED: no or bad token"),
    403: _error("FORBIDDEN: the token lacks the route's scope"),
    500: _error("INTERNAL_ERROR, with a correlation id"),
}
# The next page: the same request with `cursor` set to this answer's `next_cursor`.
NEXT_PAGE_LINK = {
    "next": {
        "operationId": "search_refunds_refunds_get",
        "parameters": {
            "cursor": "$response.body#/next_cursor",
            "transaction_id": "$request.query.transaction_id",
            "status": "$request.query.status",
            "created_from": "$request.query.created_from",
            "created_to": "$request.query.created_to",
            "limit": "$request.query.limit",
        },
        "description": "The next page, while `next_cursor` is not null.",
    }
}


def found_view(found: IndexedRefund) -> dict[str, Any]:
    """A refund as `GET /refunds/{id}` shows it, without its entries, with its FX adjustment."""
    view = views.refund_view(found.refund)
    del view["entries"]
    view["fx_adjustment_amount"] = found.fx_adjustment_amount
    return view


def row_view(row: ReportRow) -> dict[str, Any]:
    return {
        "currency": row.currency,
        "status": row.status.value,
        "count": row.count,
        "amount": row.amount,
        "tax_amount": row.tax_amount,
        "fee_amount": row.fee_amount,
        "fx_adjustment_amount": row.fx_adjustment_amount,
    }


def report_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def wants_csv(accept: str | None) -> bool:
    media_types = [part.split(";", 1)[0].strip().lower() for part in (accept or "").split(",")]
    return CSV in media_types


def register(app: APIGatewayHttpResolver, get_runtime: Callable[[], ApiRuntime]) -> None:
    """Add the two routes to the API's resolver."""

    @app.get(
        "/refunds",
        summary="Search refunds, newest first",
        responses={
            200: {
                "description": "A page of refunds; follow next_cursor for the next one",
                "content": {JSON: {"model": SearchResponse}},
                "links": NEXT_PAGE_LINK,
            },
            **ERRORS,
        },
        security=SECURITY,
        tags=["refunds"],
    )
    def search_refunds(
        transaction_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
        status: Annotated[StatusName | None, Query()] = None,
        created_from: Annotated[
            str | None, Query(max_length=40, description="ISO 8601, inclusive")
        ] = None,
        created_to: Annotated[
            str | None, Query(max_length=40, description="ISO 8601, exclusive")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=search.MAX_LIMIT)] = search.DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
    ) -> Response[SearchResponse]:
        query = SearchQuery(
            transaction_id=transaction_id,
            status=search.parse_status(status) if status else None,
            created_from=search.parse_time("created_from", created_from) if created_from else None,
            created_to=search.parse_time("created_to", created_to) if created_to else None,
            limit=limit,
            cursor=cursor,
        )
        services = get_runtime().services
        page = search.search(search.refund_index(services.store), query, services.clock())
        body: Any = {
            "refunds": [found_view(found) for found in page.refunds],
            "next_cursor": page.next_cursor,
        }
        return Response(status_code=200, content_type=JSON, body=body)

    @app.get(
        "/reports/refunds",
        summary="One UTC day's refund totals per currency and status",
        responses={
            200: {
                "description": "The day's rows; as CSV with a header line for Accept: text/csv",
                "content": {JSON: {"model": ReportResponse}, CSV: {"schema": {"type": "string"}}},
            },
            **ERRORS,
        },
        security=SECURITY,
        tags=["reports"],
    )
    def refund_report(
        date: Annotated[str, Query(min_length=10, max_length=10, description="YYYY-MM-DD, UTC")],
        currency: Annotated[CurrencyCode | None, Query()] = None,
    ) -> Response[Any]:
        day = search.parse_day("date", date)
        index = search.refund_index(get_runtime().services.store)
        rows = [row_view(row) for row in search.daily_report(index, day, currency)]
        if wants_csv(app.current_event.headers.get("accept")):
            return Response(status_code=200, content_type=CSV, body=report_csv(rows))
        body = {"date": day.isoformat(), "rows": rows}
        return Response(status_code=200, content_type=JSON, body=body)
