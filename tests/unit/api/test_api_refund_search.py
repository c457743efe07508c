"""`GET /refunds` and `GET /reports/refunds` through the handler, on moto (SPEC section 4.1)."""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import Any
from urllib.parse import quote

import pytest

from refund_service.api.app import build_app, handle
from refund_service.domain.refund import RefundStatus
from tests.support.events import claims_for, http_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.refund_mix import make_mix, pay_in, refund_with_status
from tests.unit.api.conftest import Api


def ids(page: dict[str, Any]) -> list[str]:
    return [r["refund_transaction_id"] for r in page["refunds"]]


def search(api: Api, **params: Any) -> dict[str, Any]:
    query = "&".join(f"{k}={quote(str(v))}" for k, v in params.items())
    status, body, _ = api.call("GET", f"/refunds?{query}")
    assert status == 200, body
    return body


def every_page(api: Api, **params: Any) -> list[str]:
    """Follow next_cursor to the end; the ids in the order they came."""
    seen: list[str] = []
    page = search(api, **params)
    seen += ids(page)
    while page["next_cursor"]:
        page = search(api, **params, cursor=page["next_cursor"])
        seen += ids(page)
    return seen


def refunds_on_one_payment(api: Api, count: int) -> tuple[str, list[str]]:
    transaction_id = pay_in(api.world, "USD", 100_000)
    made = []
    for _ in range(count):
        made.append(refund_with_status(api.world, transaction_id, RefundStatus.SUCCESS, 100))
        api.world.clock.advance(seconds=1)
    return transaction_id, [r.refund_id for r in made]


def test_limit_3_pages_return_a_transactions_refunds_once_newest_first(api: Api) -> None:
    # Given seven refunds on one payment and others on another payment
    transaction_id, made = refunds_on_one_payment(api, 7)
    refunds_on_one_payment(api, 2)
    # When every page of three is followed
    first = search(api, transaction_id=transaction_id, limit=3)
    seen = every_page(api, transaction_id=transaction_id, limit=3)
    # Then each refund came exactly once, newest first, three to a page
    assert len(first["refunds"]) == 3 and first["next_cursor"]
    assert seen == list(reversed(made))
    assert {r["transaction_id"] for r in first["refunds"]} == {transaction_id}
    assert "entries" not in first["refunds"][0]
    assert first["refunds"][0]["fx_adjustment_amount"] == 0


def test_refunds_created_while_paging_do_not_repeat_or_hide_earlier_ones(api: Api) -> None:
    # Given five refunds and a first page of two
    transaction_id, made = refunds_on_one_payment(api, 5)
    page = search(api, transaction_id=transaction_id, limit=2)
    seen = ids(page)
    # When more refunds are created between pages
    while page["next_cursor"]:
        refund_with_status(api.world, transaction_id, RefundStatus.SUCCESS, 100)
        api.world.clock.advance(seconds=1)
        page = search(api, transaction_id=transaction_id, limit=2, cursor=page["next_cursor"])
        seen += ids(page)
    # Then the five that matched at the start came once each, in order
    assert seen == list(reversed(made))


def test_the_status_filter_selects_exactly_that_status(api: Api) -> None:
    # Given refunds of every status over several payments
    mix = make_mix(api.world, 12)
    for status in RefundStatus:
        # When searched by status, two at a time
        seen = every_page(api, status=status.value, limit=2)
        # Then exactly the refunds with that status come back, newest first
        expected = sorted(
            (r for r in mix.refunds if r.status is status),
            key=lambda r: (r.created_at, r.refund_id),
            reverse=True,
        )
        assert seen == [r.refund_id for r in expected], status


def test_status_and_transaction_together(api: Api) -> None:
    transaction_id = pay_in(api.world, "USD", 100_000)
    statuses = [RefundStatus.SUCCESS, RefundStatus.FAILED, RefundStatus.SUCCESS]
    made = []
    for status in statuses:
        made.append(refund_with_status(api.world, transaction_id, status, 500))
        api.world.clock.advance(seconds=1)
    found = every_page(api, transaction_id=transaction_id, status="success", limit=1)
    assert found == [made[2].refund_id, made[0].refund_id]


@pytest.mark.parametrize("span_hours", [5, 24 * 6])  # the day index, then the status index
def test_time_filters_are_from_inclusive_to_exclusive(api: Api, span_hours: int) -> None:
    # Given ten refunds spread over `span_hours`
    mix = make_mix(api.world, 10, seconds_apart=span_hours * 3600 / 10)
    times = sorted(r.created_at for r in mix.refunds)
    # When searched from the third refund's creation time to the eighth's
    seen = every_page(api, created_from=times[2], created_to=times[7], limit=2)
    # Then the third to the seventh come back, newest first
    expected = sorted(
        (r for r in mix.refunds if times[2] <= r.created_at < times[7]),
        key=lambda r: r.created_at,
        reverse=True,
    )
    assert seen == [r.refund_id for r in expected] and len(seen) == 5
    # and with only one of the two bounds, each bound on its own
    assert len(every_page(api, created_from=times[2], limit=3)) == 8
    assert len(every_page(api, created_to=times[2], limit=3)) == 2


def test_times_in_other_offsets_and_without_offset_are_the_same_moment(api: Api) -> None:
    mix = make_mix(api.world, 4, seconds_apart=3600)
    first = mix.refunds[0].created_at  # 09:00 UTC
    as_utc = search(api, created_from=first, limit=10)
    assert ids(search(api, created_from="2026-11-02T10:00:00+01:00", limit=10)) == ids(as_utc)
    assert ids(search(api, created_from="2026-11-02T09:00:00", limit=10)) == ids(as_utc)
    assert len(ids(as_utc)) == 4


def cursor_of(api: Api, **params: Any) -> str:
    cursor = search(api, **params)["next_cursor"]
    assert cursor
    return str(cursor)


def forged(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def refused(api: Api, path: str) -> dict[str, Any]:
    status, body, _ = api.call("GET", path)
    assert status == 400, body
    assert body["error_code"] == "VALIDATION_ERROR"
    return body


def test_a_forged_or_foreign_cursor_is_a_validation_error(api: Api) -> None:
    # Given refunds on two payments and a genuine cursor for each
    mine, _ = refunds_on_one_payment(api, 4)
    theirs, _ = refunds_on_one_payment(api, 4)
    genuine = cursor_of(api, transaction_id=mine, limit=1)
    payload = json.loads(base64.urlsafe_b64decode(genuine + "=" * (-len(genuine) % 4)))
    # When a cursor is garbage, edited, or brought to another search
    bad = [
        "garbage",
        "%%%",
        genuine[:-3],
        forged({**payload, "f": "0" * 24}),
        forged({**payload, "c": "yesterday"}),
        forged({**payload, "r": 7}),
        forged({**payload, "v": 2}),
        forged([1, 2]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ]
    for cursor in bad:
        refused(api, f"/refunds?transaction_id={mine}&limit=1&cursor={quote(cursor)}")
    refused(api, f"/refunds?transaction_id={theirs}&limit=1&cursor={quote(genuine)}")
    refused(api, f"/refunds?status=success&limit=1&cursor={quote(genuine)}")
    # Then the genuine one still works where it belongs
    assert search(api, transaction_id=mine, limit=1, cursor=genuine)["refunds"]


def test_a_cursor_pointing_outside_its_time_range_is_refused(api: Api) -> None:
    mix = make_mix(api.world, 4, seconds_apart=60)
    times = sorted(r.created_at for r in mix.refunds)
    params = {"created_from": times[1], "limit": 1}
    genuine = cursor_of(api, **params)
    payload = json.loads(base64.urlsafe_b64decode(genuine + "=" * (-len(genuine) % 4)))
    outside = forged({**payload, "c": times[0]})
    path = f"/refunds?created_from={quote(times[1])}&limit=1&cursor={outside}"
    refused(api, path)


@pytest.mark.parametrize(
    "query",
    [
        "status=refunded",
        "limit=0",
        "limit=101",
        "limit=ten",
        "created_from=yesterday",
        "created_to=2026-11-02T25:00:00Z",
        "created_from=2026-11-03T00:00:00Z&created_to=2026-11-02T00:00:00Z",
        "transaction_id=",
        "created_from=9999-12-31T23:59:59.9999999Z",
        "created_to=0001-01-01T00:00:00%2B01:00",
    ],
)
def test_bad_search_parameters_are_validation_errors(api: Api, query: str) -> None:
    refused(api, f"/refunds?{query}")


@pytest.mark.parametrize(
    "query",
    ["", "date=2026-13-01", "date=20261102", "date=9999-12-31", "date=2026-11-02&currency=XYZ"],
)
def test_bad_report_parameters_are_validation_errors(api: Api, query: str) -> None:
    refused(api, f"/reports/refunds?{query}")


@pytest.mark.parametrize("path", ["/refunds", "/reports/refunds?date=2026-11-02"])
def test_both_routes_need_refunds_read(api: Api, path: str) -> None:
    status, body, _ = api.call("GET", path, scopes="refunds:write ledger:write")
    assert status == 403 and body["error_code"] == "FORBIDDEN"
    status, _, _ = api.call("GET", path, scopes="refunds:read")
    assert status == 200


def report_csv(api: Api, path: str) -> tuple[int, str, str]:
    app = build_app(lambda: api.runtime)
    event = http_event("GET", path, headers={"Accept": "text/csv"}, claims=claims_for())
    result = handle(app, event, FakeLambdaContext())
    return result["statusCode"], result["headers"]["Content-Type"], result["body"]


def test_the_report_sums_what_the_search_returns_and_reads_as_csv(api: Api) -> None:
    # Given refunds of every status in four currencies on one day, and some on the next day
    mix = make_mix(api.world, 24, seconds_apart=60)
    api.world.clock.advance(days=1)
    make_mix(api.world, 4)
    # When the day's report is asked, as JSON and as CSV
    status, report, _ = api.call("GET", "/reports/refunds?date=2026-11-02")
    assert status == 200, report
    csv_status, media_type, text = report_csv(api, "/reports/refunds?date=2026-11-02")
    # Then each row is the sum over the day's search results of its currency and status
    found = _search_all(api, "2026-11-02", "2026-11-03")
    assert len(found) == 24
    sums: dict[tuple[str, str], dict[str, int]] = {}
    for page_refund in found:
        row = sums.setdefault((page_refund["currency"], page_refund["status"]), {"count": 0})
        row["count"] += 1
        for name in ("amount", "tax_amount", "fee_amount", "fx_adjustment_amount"):
            row[name] = row.get(name, 0) + page_refund[name]
    rows = {(r["currency"], r["status"]): r for r in report["rows"]}
    assert rows.keys() == sums.keys() == set(mix.count())
    for key, row in rows.items():
        assert {k: row[k] for k in sums[key]} == sums[key]
    assert any(r["fx_adjustment_amount"] for r in report["rows"])
    # and the CSV holds the same rows under a header line
    assert csv_status == 200 and media_type == "text/csv"
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [{k: str(v) for k, v in r.items()} for r in report["rows"]] == parsed


def _search_all(api: Api, day: str, next_day: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"created_from": day, "created_to": next_day, "limit": 7}
        page = search(api, **params, **({"cursor": cursor} if cursor else {}))
        out += page["refunds"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def test_the_report_for_one_currency_is_that_currencys_rows(api: Api) -> None:
    make_mix(api.world, 8)
    _, everything, _ = api.call("GET", "/reports/refunds?date=2026-11-02")
    _, eur, _ = api.call("GET", "/reports/refunds?date=2026-11-02&currency=eur")
    assert eur["rows"] == [r for r in everything["rows"] if r["currency"] == "EUR"]
    assert eur["rows"]
    _, empty, _ = api.call("GET", "/reports/refunds?date=2026-11-03")
    assert empty == {"date": "2026-11-03", "rows": []}


def test_a_search_without_filters_lists_everything_newest_first(api: Api) -> None:
    mix = make_mix(api.world, 6, seconds_apart=3600)
    api.world.clock.advance(days=10)
    later = make_mix(api.world, 2)
    seen = every_page(api, limit=3)
    everything = mix.refunds + later.refunds
    expected = sorted(everything, key=lambda r: (r.created_at, r.refund_id), reverse=True)
    assert seen == [r.refund_id for r in expected]
