"""The daily report equals the search's sums over a few hundred refunds (DynamoDB Local).

Both sides go through what the routes answer: the search pages as `GET /refunds` shows each
refund, the report's rows as `GET /reports/refunds` shows them. Moto would take minutes here.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from refund_service.api.views import found_view, row_view
from refund_service.domain.allocation import FeePolicy
from refund_service.service.search import SearchQuery, daily_report, search
from tests.support.refund_mix import make_mix
from tests.support.world import MutableClock, make_world

DAY = date(2026, 11, 2)
FIGURES = ("amount", "tax_amount", "fee_amount", "fx_adjustment_amount")


def searched(world: Any, query: SearchQuery) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = search(world.store, query, world.clock.now)
        found += [found_view(f).model_dump() for f in page.refunds]
        if page.next_cursor is None:
            return found
        query = SearchQuery(**{**query.__dict__, "cursor": page.next_cursor})


def test_report_rows_equal_the_sums_of_the_days_search(local_dynamodb: Any) -> None:
    # Given 200 refunds of every status in four currencies on one day (fees shared, some
    # payments settled in another currency) and a few on the days around it
    clock = MutableClock(datetime(2026, 11, 1, 23, 50, tzinfo=UTC))
    world = make_world(
        local_dynamodb, clock, suffix=f"-{uuid.uuid4().hex[:8]}", fee_policy=FeePolicy.PROPORTIONAL
    )
    before = make_mix(world, 4, seconds_apart=60)
    clock.now = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    day = make_mix(world, 200, seconds_apart=430)  # up to 23:53
    clock.now = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
    after = make_mix(world, 4, seconds_apart=60)
    # When the day's report is made and the day is searched page by page
    rows = [row_view(r).model_dump() for r in daily_report(world.store, DAY)]
    query = SearchQuery(
        created_from=datetime(2026, 11, 2, tzinfo=UTC),
        created_to=datetime(2026, 11, 3, tzinfo=UTC),
        limit=37,
    )
    found = searched(world, query)
    # Then the search returned the day's refunds once each, and no other day's
    assert sorted(r["refund_transaction_id"] for r in found) == sorted(
        r.refund_id for r in day.refunds
    )
    others = {r.refund_id for r in before.refunds + after.refunds}
    assert not others & {r["refund_transaction_id"] for r in found}
    # and each row is the sum over the found refunds of its currency and status
    sums: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIGURES, 0))
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for refund in found:
        key = (refund["currency"], refund["status"])
        counts[key] += 1
        for name in FIGURES:
            sums[key][name] += refund[name]
    assert len(rows) == len(sums) == 16
    for row in rows:
        key = (row["currency"], row["status"])
        assert row["count"] == counts[key]
        assert {name: row[name] for name in FIGURES} == sums[key], key
    assert all(row["fee_amount"] > 0 for row in rows)
    assert any(row["fx_adjustment_amount"] != 0 for row in rows)
