"""`make bench` in miniature: every row is produced, and the figures that must not drift hold.

Counts are tiny so this takes seconds; timings are only compared within the run.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter

import pytest

from tests.bench import report
from tests.bench.probes import REMAINDER, STAGES
from tests.bench.runner import BenchResult, BenchSettings, run_bench
from tests.bench.stack import BenchStack, loopback_client
from tests.bench.throughput import SameCallsCeiling, service_writes

SETTINGS = BenchSettings(
    cold_runs=1,
    warm_refunds=3,
    requests=12,
    time_limit=30.0,
    wide_seconds=5.0,
    wide_per_client=2,
    unrelated=(100, 1_000),
    earlier=(1, 8),
    settled=(2, 60),
    fill_time_limit=30.0,
    changed_among=(50, 500),
    sweep_transactions=20,
    long_pending=(3, 240),
    refunds=(200, 600),
    day_refunds=(5, 60),
)
ROWS = (
    *("1", "1b", "1c", "2a", "2b"),
    *("3a", "3b", "3c", "3d", "3e", "3f", "3g"),
    *("4a", "4b", "4c", "6a", "6b", "6c", "5a", "5b", "5c"),
)


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
    # Both parts of both sides are measured; which side is faster is the bench's to say, not a
    # one-run test's on a shared machine (both first answers build a client and call DynamoDB).
    for side in ("service", "bare"):
        assert cold.part(side, "import_ms") > 0 and cold.part(side, "first_ms") > 0


def test_a_restored_process_answers_its_first_refund_and_a_warm_one(bench: BenchResult) -> None:
    (run,) = bench.restore.runs
    assert (run["status"], run["warm_status"]) == (200, 200)
    assert run["prime_ms"] > 0 and run["first_ms"] > 0 and run["warm_ms"] > 0
    assert math.isfinite(bench.restore.ratio)


def test_the_first_fx_refund_is_served_by_the_stored_rates_or_the_bundled_history(
    bench: BenchResult,
) -> None:
    fx = bench.fx
    assert [run["served_by"] for run in fx.stored] == ["StoredEcbRateSource"]
    assert [run["served_by"] for run in fx.bundled] == ["bundled"]
    assert fx.median("stored") > 0 and fx.median("bundled") > 0


def test_the_same_calls_ceiling_makes_exactly_the_calls_of_a_refund(
    bench: BenchResult, perf_stack: BenchStack
) -> None:
    client = perf_stack.client("dynamodb")
    writes = service_writes(client)
    made: Counter[str] = Counter()
    client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: made.update([model.name])
    )
    written: list[list[str]] = []
    client.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: written.append(
            [item["Put"]["Item"]["sk"]["S"].split("#")[0] for item in params["TransactItems"]]
        ),
    )
    ceiling = SameCallsCeiling(client, bench.calls.by_operation(), writes=writes)
    partition = f"BENCH#CEILING#{uuid.uuid4().hex}"
    ceiling.create(partition)
    made.clear()
    assert ceiling.refund(partition) == "ok"
    per_refund: Counter[str] = Counter()
    for key, count in bench.calls.by_operation().items():
        service, operation, _ = key.split(":")
        if service == "dynamodb":
            per_refund[operation] += round(count)
    assert made == per_refund
    assert made["TransactWriteItems"] == 2
    # and writes what the service writes: its items, in its order, in both transactions
    service = [
        [json.loads(text)["sk"]["S"].split("#")[0] for _, text, _ in t] for t in writes.transactions
    ]
    assert written == service
    assert service[0] == ["HEAD", "ENTRY", "REFUND", "AUDIT", "AUDIT", "AUDIT", "AUDIT", "KEY"]
    assert made["Query"] == 0  # the ledger reads by key: head and pointer (decision 0025)


def test_sixty_four_clients_see_no_connection_error(bench: BenchResult) -> None:
    wide = bench.wide
    assert wide.clients == 64
    assert wide.connection_errors == 0
    assert wide.done > 0 and wide.outcomes == {"ok": wide.done}


def test_a_warm_refund_makes_five_dynamodb_calls_and_no_kms_call(bench: BenchResult) -> None:
    calls = bench.calls
    assert set(calls.statuses) == {200}
    assert calls.service_dynamodb == 5
    assert calls.per_refund("dynamodb", "ledger") == 3
    assert calls.by_operation({"ledger"}) == {
        "dynamodb:BatchGetItem:ledger": 1,  # the head and the key's pointer (decision 0025)
        "dynamodb:TransactWriteItems:ledger": 2,
    }
    assert calls.by_operation({"idempotency"}) == {
        "dynamodb:PutItem:idempotency": 1,
        "dynamodb:UpdateItem:idempotency": 1,
    }
    assert calls.per_refund("kms") == 0
    assert calls.first.get("kms:GenerateDataKey:kms") == 1


def test_the_profile_splits_a_warm_refund_into_stages_that_sum_to_its_time(
    bench: BenchResult,
) -> None:
    profile = bench.calls.profile
    assert profile.refunds == SETTINGS.warm_refunds
    assert [stage.purpose for stage in profile.stages] == [*STAGES, REMAINDER]
    assert profile.total_ms > 0
    assert all(stage.ms >= 0 for stage in profile.stages), profile.stages
    assert sum(stage.ms for stage in profile.stages) == pytest.approx(profile.total_ms)
    # every call counted at before-call was timed to its end, in the stage of its purpose
    for refund in bench.calls.warm_refunds:
        assert refund.timed == refund.calls
        assert sum(refund.ms.values()) < refund.wall_ms
    ledger = profile.stage("ledger")
    assert ledger.operations == {"BatchGetItem": 1, "TransactWriteItems": 2}
    assert ledger.ms > 0
    assert profile.stage("idempotency").operations == {"PutItem": 1, "UpdateItem": 1}
    stand_in = profile.stage("processor stand-in")
    assert stand_in.calls == bench.calls.per_refund("dynamodb", "processor stand-in") > 0
    kms = profile.stage("kms")
    assert (kms.ms, kms.calls) == (0, 0)


def test_the_printed_profile_sums_to_its_total_within_rounding(bench: BenchResult) -> None:
    profile = bench.calls.profile
    printed = report.render_profile(profile).splitlines()[2:]
    cells = [line.strip("|").split("|") for line in printed]
    ms = [float(cell[1].strip(" *").removesuffix(" ms")) for cell in cells]
    *stages, total = ms
    assert len(stages) == len(profile.stages)
    assert total == round(profile.total_ms, 1)
    assert sum(stages) == pytest.approx(total, abs=0.05 * len(stages))
    shares = [int(cell[2].strip(" *").removesuffix("%")) for cell in cells[:-1]]
    assert abs(sum(shares) - 100) <= len(shares) // 2 + 1
    document = report.document(bench.rows, profile, "smoke", 1.0)
    assert report.render_table(bench.rows) + "\n\n## Where a warm refund's time goes" in document


def test_every_load_row_answers_and_distinct_payments_all_succeed(bench: BenchResult) -> None:
    for row in bench.load:
        assert row.service.done > 0 and row.ceiling.done > 0, row.shape
        assert row.service.per_second > 0 and row.ceiling.per_second > 0, row.shape
        assert row.service.p99 >= row.service.p50 > 0
        if row.shape.same_calls:
            assert row.same_calls is not None, row.shape
            assert row.same_calls.done > 0, row.shape
            assert row.same_calls.outcomes == {"ok": row.same_calls.done}, row.shape
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
