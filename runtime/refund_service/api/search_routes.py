"""`GET /refunds` (search) and `GET /reports/refunds` (one day's totals): SPEC section 4.1."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from refund_service.api.models import (
    CurrencyCode,
    RefundStatusName,
    ReportResponse,
    ReportRowModel,
    SearchResponse,
)
from refund_service.api.openapi_links import SEARCH_NEXT_PAGE_LINKS
from refund_service.api.routing import COMMON_ERRORS, JSON, answer, error, new_router, scoped
from refund_service.api.runtime import ApiRuntime
from refund_service.api.views import found_view, row_view
from refund_service.service import search
from refund_service.service.search import SearchQuery

CSV = "text/csv"
REPORT_COLUMNS = tuple(ReportRowModel.model_fields)

ERRORS: dict[int, OpenAPIResponse] = {
    **COMMON_ERRORS,
    400: error("VALIDATION_ERROR: a bad parameter or a cursor this search did not issue"),
}


def report_csv(rows: list[ReportRowModel]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(row.model_dump(mode="json") for row in rows)
    return out.getvalue()


def wants_csv(accept: str | None) -> bool:
    media_types = [part.split(";", 1)[0].strip().lower() for part in (accept or "").split(",")]
    return CSV in media_types


def search_router(get_runtime: Callable[[], ApiRuntime]) -> Router:
    router = new_router()

    @scoped(
        router,
        "GET",
        "/refunds",
        summary="Search refunds, newest first",
        responses={
            200: {
                "description": "A page of refunds; follow next_cursor for the next one",
                "content": {JSON: {"model": SearchResponse}},
                "links": SEARCH_NEXT_PAGE_LINKS,
            },
            **ERRORS,
        },
        tags=["refunds"],
    )
    def search_refunds(
        transaction_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
        status: Annotated[RefundStatusName | None, Query()] = None,
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
        found = [found_view(refund) for refund in page.refunds]
        return answer(200, SearchResponse(refunds=found, next_cursor=page.next_cursor))

    @scoped(
        router,
        "GET",
        "/reports/refunds",
        summary="One UTC day's refund totals per currency and status",
        responses={
            200: {
                "description": "The day's rows; as CSV with a header line for Accept: text/csv",
                "content": {JSON: {"model": ReportResponse}, CSV: {"schema": {"type": "string"}}},
            },
            **ERRORS,
        },
        tags=["reports"],
    )
    def refund_report(
        date: Annotated[str, Query(min_length=10, max_length=10, description="YYYY-MM-DD, UTC")],
        currency: Annotated[CurrencyCode | None, Query()] = None,
    ) -> Response[ReportResponse | str]:
        day = search.parse_day("date", date)
        index = search.refund_index(get_runtime().services.store)
        rows = [row_view(row) for row in search.daily_report(index, day, currency)]
        if wants_csv(router.current_event.headers.get("accept")):
            return Response(status_code=200, content_type=CSV, body=report_csv(rows))
        return answer(200, ReportResponse(date=day.isoformat(), rows=rows))

    return router
