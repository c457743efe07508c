"""`make bench` in miniature: every row is produced, and the figures that must not drift hold.

Counts are tiny so this takes seconds; timings are only compared within the run.
"""

from __future__ import annotations

import math

import pytest

from tests.bench.runner import BenchResult, BenchSettings, run_bench
from tests.bench.stack import BenchStack, loopback_client

SETTINGS = BenchSettings(
    cold_runs=1,
    warm_refunds=3,
    requests=12,
    time_limit=30.0,
    unrelated=(100, 1_000),
    earlier=(1, 8),
    settled=(2, 60),
    fill_time_limit=30.0,
    changed_among=(50, 500),
    sweep_transactions=20,
    long_pending=(3, 240),
)
ROWS = ("1", "2a", "2b", "3a", "3b", "3c", "3d", "4a", "4b", "4c", "6a", "6b", "6c")


@pytest.fixture(scope="module")
def bench(perf_stack: BenchStack, dynamodb_local_endpoint: str) -> BenchResult:
    growth_client = loopback_client("dynamodb", dynamodb_local_endpoint)
    return run_bench(perf_stack, growth_client, SETTINGS)


def test_the_table_has_every_row_with_a_figure(bench: BenchResult) -> None:
    assert [row.key for row in bench.rows] == list(ROWS)
    for row in bench.rows:
        assert row.measure and row.service and row.reference and row.reading
        assert row.ratio == "—" or row.ratio.endswith("x"), row


def test_cold_start_measures_a_real_first_refund_and_the_bare_handler(bench: BenchResult) -> None:
    cold = bench.cold
    assert [run["status"] for run in cold.service] == [200]
    assert [run["status"] for run in cold.bare] == [200]
    assert cold.total("service") > 0 and cold.total("bare") > 0
    assert math.isfinite(cold.ratio)
    # The service's first answer builds clients and calls DynamoDB and KMS; the bare one does not.
    assert cold.part("service", "first_ms") > cold.part("bare", "first_ms")


def test_a_warm_refund_makes_five_dynamodb_calls_and_no_kms_call(bench: BenchResult) -> None:
    calls = bench.calls
    assert set(calls.statuses) == {200}
    assert calls.service_dynamodb == 5
    assert calls.per_refund("dynamodb", "ledger") == 3
    assert calls.by_operation({"ledger"}) == {
        "dynamodb:Query:ledger": 1,
        "dynamodb:TransactWriteItems:ledger": 2,
    }
    assert calls.by_operation({"idempotency"}) == {
        "dynamodb:PutItem:idempotency": 1,
        "dynamodb:UpdateItem:idempotency": 1,
    }
    assert calls.per_refund("kms") == 0
    assert calls.first.get("kms:GenerateDataKey:kms") == 1


def test_every_load_row_answers_and_distinct_payments_all_succeed(bench: BenchResult) -> None:
    for row in bench.load:
        assert row.service.done > 0 and row.ceiling.done > 0, row.shape
        assert row.service.per_second > 0 and row.ceiling.per_second > 0, row.shape
        assert row.service.p99 >= row.service.p50 > 0
        if not row.shape.shared_payment:
            assert row.service.outcomes == {"ok": row.service.done}, row.shape
            assert row.ceiling.outcomes == {"ok": row.ceiling.done}, row.shape
        else:
            allowed = {"ok", "503:LEDGER_CONTENTION"}
            assert set(row.service.outcomes) <= allowed, row.service.outcomes


def test_reads_stay_flat_as_unrelated_data_grows(bench: BenchResult) -> None:
    grown = bench.growth
    assert grown.unrelated_large == SETTINGS.unrelated[1]
    assert grown.capacity_small > 0
    assert grown.capacity_large == grown.capacity_small
    assert grown.settled_many == SETTINGS.settled[1]
    assert grown.index_items_many == grown.index_items_few == grown.pending_examined
    assert grown.index_capacity_many == grown.index_capacity_few


def test_reads_do_not_grow_with_the_payments_own_history(bench: BenchResult) -> None:
    grown = bench.growth
    assert grown.items_many == grown.items_few
    assert 0 < grown.capacity_many == grown.capacity_few <= 2


def test_work_per_change_stays_flat_and_bounded(bench: BenchResult) -> None:
    change = bench.change
    small, large = change.verify
    assert small.queries == large.queries == 2  # its partition and its audit trail
    assert large.capacity == small.capacity
    assert change.sweep_checked == SETTINGS.sweep_transactions
    few, many = change.runs
    assert few.new_settled and many.new_settled
    # the run with the large backlog is bounded by its budget, not by the backlog
    assert many.examined <= 216 < SETTINGS.long_pending[1]
