"""The refund search indexes on moto: keys written with every refund change, read by Query only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from refund_service.adapters.dynamodb import codec
from refund_service.adapters.dynamodb.refund_index import shard_of
from refund_service.domain.ledger import EntryType
from refund_service.domain.refund import RefundStatus
from refund_service.service.reconciler import reconcile
from refund_service.service.search import Bounds, IndexedRefund, SearchQuery, search
from refund_service.storage.schema import REFUND_SEARCH_SHARDS, REFUNDS_BY_DAY_INDEX
from tests.support.refund_mix import make_mix, pay_in, refund_with_status
from tests.support.world import World


def stored_item(world: World, transaction_id: str, refund_id: str) -> dict[str, Any]:
    key = {"pk": codec.partition_key(transaction_id), "sk": codec.refund_sk(refund_id)}
    item = world.client.get_item(
        TableName=world.tables["PaymentLedger"], Key=codec.serialize(key), ConsistentRead=True
    )["Item"]
    return codec.deserialize(item)


def with_status(world: World, status: RefundStatus) -> list[IndexedRefund]:
    return [found for s in world.store.refunds_with_status(status, Bounds(), 10) for found in s]


@contextmanager
def calls(client: Any) -> Iterator[list[tuple[str, str | None]]]:
    """(operation, index) of every DynamoDB call made inside."""
    made: list[tuple[str, str | None]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        made.append((model.name, params.get("IndexName")))

    client.meta.events.register("provide-client-params.dynamodb.*", record, unique_id="calls")
    try:
        yield made
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.*", unique_id="calls")


def test_a_settled_refund_leaves_the_pending_partition_in_the_same_write(world: World) -> None:
    # Given a refund whose processor answer was lost: pending
    transaction_id = pay_in(world, "USD", 10_000)
    refund = refund_with_status(world, transaction_id, RefundStatus.PENDING, 2_500)
    shard = shard_of(refund.refund_id)
    assert stored_item(world, transaction_id, refund.refund_id)["search_status"] == (
        f"pending#{shard}"
    )
    assert [f.refund.refund_id for f in with_status(world, RefundStatus.PENDING)] == [
        refund.refund_id
    ]
    # When the reconciler learns it succeeded
    world.clock.advance(minutes=10)
    reconcile(world.services, timedelta(minutes=5), timedelta(hours=1))
    # Then the record and the status index say success, and nothing is left pending
    item = stored_item(world, transaction_id, refund.refund_id)
    assert item["status"] == "success" and item["search_status"] == f"success#{shard}"
    assert "pending_bucket" not in item and "pending_since" not in item
    assert with_status(world, RefundStatus.PENDING) == []
    assert [f.refund.status for f in with_status(world, RefundStatus.SUCCESS)] == [
        RefundStatus.SUCCESS
    ]


def test_the_fx_adjustment_is_on_the_refund_record_and_survives_its_rollback(
    world: World,
) -> None:
    # Given a EUR payment settled in USD at a capture rate the ECB's rate differs from
    transaction_id = pay_in(world, "EUR", 10_000)
    # When a refund succeeds and is then rolled back
    refund = refund_with_status(world, transaction_id, RefundStatus.ROLLED_BACK, 4_000)
    # Then the record carries what its FX_ADJUSTMENT entry booked, after both writes
    entries = world.store.load(transaction_id).entries
    booked = [e.amount for e in entries if e.type is EntryType.FX_ADJUSTMENT]
    assert len(booked) == 1 and booked[0] != 0
    item = stored_item(world, transaction_id, refund.refund_id)
    assert item["status"] == "rolled_back"
    assert item["fx_adjustment_amount"] == booked[0]
    (found,) = with_status(world, RefundStatus.ROLLED_BACK)
    assert found.fx_adjustment_amount == booked[0]


def test_a_refund_without_fx_has_no_adjustment(world: World) -> None:
    transaction_id = pay_in(world, "USD", 10_000)
    refund = refund_with_status(world, transaction_id, RefundStatus.SUCCESS, 1_000)
    assert stored_item(world, transaction_id, refund.refund_id)["fx_adjustment_amount"] == 0
    assert with_status(world, RefundStatus.SUCCESS)[0].fx_adjustment_amount == 0


def test_refunds_created_between_reads_only_the_day_index(world: World) -> None:
    # Given refunds of every status over three days, 5 hours apart
    mix = make_mix(world, 16, seconds_apart=5 * 3600)
    assert {r.status for r in mix.refunds} == set(RefundStatus)
    # When asked for a window whose bounds are two refunds' own creation times
    times = sorted(r.created_at for r in mix.refunds)
    since, until = datetime.fromisoformat(times[3]), datetime.fromisoformat(times[11])
    with calls(world.client) as made:
        listed = list(world.store.refunds_created_between(since, until))
    # Then exactly the refunds created in [since, until) come back, each once
    expected = {
        (r.transaction_id, r.refund_id) for r in mix.refunds if times[3] <= r.created_at < times[11]
    }
    assert len(listed) == len(set(listed)) == 8
    assert set(listed) == expected
    # and only Queries on the day index were made, one per shard and day at most
    assert {op for op, _ in made} == {"Query"}
    assert {index for _, index in made} == {REFUNDS_BY_DAY_INDEX}
    days = len({t[:10] for t in times[3:11]})
    assert len(made) == REFUND_SEARCH_SHARDS * days


def test_shards_are_merged_newest_first_and_ties_by_refund_id(world: World) -> None:
    # Given 30 refunds, three at each instant, spread over the shards
    made = []
    for n in range(30):
        transaction_id = pay_in(world, "USD", 10_000)
        made.append(refund_with_status(world, transaction_id, RefundStatus.SUCCESS, 100))
        if n % 3 == 2:
            world.clock.advance(seconds=1)
    assert len({shard_of(r.refund_id) for r in made}) > 1
    # When the status partitions are merged the way a search does
    query = SearchQuery(status=RefundStatus.SUCCESS, limit=100)
    page = search(world.store, query, world.clock.now)
    # Then the order is (created_at, refund_id) descending
    positions = [found.position for found in page.refunds]
    assert positions == sorted(((r.created_at, r.refund_id) for r in made), reverse=True)
    assert page.next_cursor is None
