"""The one table `make bench` prints and writes to docs/performance.md."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from tests.bench.client import LoadResult
from tests.bench.growth import GrowthResult
from tests.bench.probes import (
    FLOOR_DYNAMODB,
    FLOOR_KMS,
    REMAINDER,
    STAGES,
    AwsCalls,
    ColdStart,
    FirstFx,
    Profile,
    Restore,
    Stage,
)
from tests.bench.throughput import SHAPES, WARM_UP
from tests.bench.throughput import Row as LoadRow
from tests.support.dynamodb_local import find_jar


@dataclass(frozen=True)
class TableRow:
    key: str
    measure: str
    service: str
    reference: str
    ratio: str
    reading: str


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x" if reference else "n/a"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


def cold_start_row(cold: ColdStart) -> TableRow:
    return TableRow(
        "1",
        f"Cold start: import the API handler and answer a first POST /refunds, fresh Lambda-like "
        f"process (median of {len(cold.service)})",
        f"{_ms(cold.total('service'))} (import {_ms(cold.part('service', 'import_ms'))} + "
        f"first refund {_ms(cold.part('service', 'first_ms'))})",
        f"bare Powertools handler making the floor's three DynamoDB calls: "
        f"{_ms(cold.total('bare'))} (import {_ms(cold.part('bare', 'import_ms'))} + first "
        f"answer {_ms(cold.part('bare', 'first_ms'))})",
        _ratio(cold.total("service"), cold.total("bare")),
        "What a new Lambda instance adds to its first request, against a bare handler that pays "
        "for its first AWS calls too. Both run in a Lambda-like process: an interpreter whose "
        "venv holds only requirements.txt (built under .build/ with uv from the lock, about a "
        "second once cached), `LAMBDA_TASK_ROOT` and a sampled trace header set, so the X-Ray "
        "SDK starts no sampler and builds no clients at import, as in Lambda. The bare handler "
        "has Logger, Metrics, Tracer and the validating HTTP resolver, and its one route makes "
        "the floor's Query and two TransactWriteItems on a boto3 client built at that request. "
        "The service's first refund also asks KMS for a data key and makes its idempotency and "
        "processor calls (DynamoDB Local and moto over loopback). Import time is paid once per "
        "instance; the ratio is what the service costs above Powertools and its storage floor.",
    )


def restore_row(restore: Restore) -> TableRow:
    return TableRow(
        "1b",
        f"First POST /refunds after a simulated SnapStart restore (median of "
        f"{len(restore.runs)} fresh processes)",
        f"{_ms(restore.median('first_ms'))} (primed in {_ms(restore.median('prime_ms'))}, "
        f"restore hooks {_ms(restore.median('restore_ms'))})",
        f"a warm refund in the same process: {_ms(restore.median('warm_ms'))}",
        _ratio(restore.median("first_ms"), restore.median("warm_ms")),
        "Each process imports the handler, runs the before-snapshot hook "
        "(runtime/refund_service/snapstart.py: clients, the API's runtime and the resolver's "
        "validation models, no AWS call and no KMS data key), then the after-restore hook (drop "
        "the data key, reseed `random`, empty the connection pools), and only then times a first "
        "refund: what an environment restored from the snapshot pays. The difference to the "
        "warm refund is the KMS GenerateDataKey and new connections. Lambda's own restore time "
        "is not in it.",
    )


def first_fx_row(fx: FirstFx, cold: ColdStart) -> TableRow:
    same = cold.part("service", "first_ms")
    return TableRow(
        "1c",
        f"First refund converted from EUR on a USD payment, fresh Lambda-like process (median of "
        f"{len(fx.stored)})",
        f"stored daily rates: {_ms(fx.median('stored'))}; bundled history: "
        f"{_ms(fx.median('bundled'))}",
        f"first same-currency refund (row 1's first refund): {_ms(same)}",
        _ratio(fx.median("stored"), same),
        "With the FX-rates table configured and today's rates stored, the quote is one GetItem "
        "and the bundled history is never loaded (each run checks which source served it). "
        "Without the table, the bundled history serves and its first use parses 25 years of "
        "rates in that process: the difference between the two figures.",
    )


def aws_call_rows(calls: AwsCalls) -> list[TableRow]:
    ops = calls.by_operation({"ledger", "idempotency"})
    detail = ", ".join(
        f"{key.split(':')[1]} {value:g}" + (" (idempotency)" if key.endswith("idempotency") else "")
        for key, value in ops.items()
    )
    stand_in = calls.per_refund("dynamodb", "processor stand-in")
    first_kms = sum(v for k, v in calls.first.items() if k.startswith("kms:"))
    return [
        TableRow(
            "2a",
            f"DynamoDB calls per successful refund through the API handler, warm process "
            f"(mean of {len(calls.warm)}, first request excluded)",
            f"{calls.service_dynamodb:g}: {detail}",
            f"floor {FLOOR_DYNAMODB}: Query 1, TransactWriteItems 2",
            _ratio(calls.service_dynamodb, FLOOR_DYNAMODB),
            "The refund reads by key (one BatchGetItem of its head and its key's pointer, "
            "decision 0025) where the floor queries. Calls above the floor are what Powertools "
            "idempotency costs (decision 0026): a PutItem records the "
            "key as in progress before the work, an UpdateItem stores the answer for replays. "
            f"Not counted: the simulated processor's own {stand_in:g} calls (UpdateItems of its "
            "hour's and minute's index items, PutItem, GetItem), which a real processor replaces "
            "with one HTTPS call.",
        ),
        TableRow(
            "2b",
            "KMS calls per successful refund, warm process",
            f"{calls.per_refund('kms'):g} (the cold first request made {first_kms:g}: "
            "GenerateDataKey)",
            f"floor {FLOOR_KMS} amortized",
            "—",
            "The initiator's e-mail and address are sealed under a data key asked of KMS once per "
            "process and reused for 5 minutes (or 10,000 uses), so a warm refund makes no KMS "
            "call.",
        ),
    ]


def load_rows(rows: list[LoadRow], requests: int, time_limit: float) -> list[TableRow]:
    out = []
    for n, row in enumerate(rows):
        s, c = row.service, row.ceiling
        failed = {k: v for k, v in s.outcomes.items() if k != "ok"}
        note = f"{s.ok} of {s.done} ok" + (f"; {failed}" if failed else "")
        shared = row.shape.shared_payment
        out.append(
            TableRow(
                f"3{'abcd'[n]}",
                f"POST /refunds over HTTP, {row.shape.label} (up to {requests} requests or "
                f"{time_limit:.0f} s)",
                f"{s.per_second:.1f}/s, p50 {_ms(s.p50)}, p99 {_ms(s.p99)} ({note})",
                f"DynamoDB Local's ceiling, same storage work: {c.per_second:.1f}/s, "
                f"p50 {_ms(c.p50)}, p99 {_ms(c.p99)}"
                + (f"; {c.retries} conflicts retried" if c.retries else ""),
                _ratio(s.per_second, c.per_second),
                "All requests contend for one payment's head item: each conflict reads the head "
                "and the key's pointer again and tries again; the ceiling re-reads the partition, "
                "which grows by three items per refund. "
                f"The slowest request took {max(s.latencies_ms, default=0) / 1000:.0f} s (API "
                "Gateway's HTTP API gives up after 30 s)."
                if shared
                else "Throughput counts refunds answered 200. The ceiling does only the storage "
                "work (one Query, two TransactWriteItems) with the same concurrency; the ratio is "
                "the share of DynamoDB Local's capacity the service reaches. Clients, server and "
                "DynamoDB Local share the machine's cores. Before the first row, each side runs "
                f"once unmeasured ({WARM_UP.clients} clients, a local worker each): DynamoDB "
                "Local's JVM compiles "
                "its hot paths during the first requests, and unwarmed the side run first, the "
                "service's, was measured on a colder server.",
            )
        )
    return out


def same_calls_rows(rows: list[LoadRow], requests: int, time_limit: float) -> list[TableRow]:
    out: list[TableRow] = []
    for row in (r for r in rows if r.same_calls is not None):
        s, c = row.service, row.same_calls
        assert c is not None
        out.append(
            TableRow(
                f"3{'ef'[len(out)]}",
                f"POST /refunds over HTTP, {row.shape.label}, against a ceiling making the "
                f"service's own DynamoDB calls (up to {requests} requests or {time_limit:.0f} s)",
                f"{s.per_second:.1f}/s, p50 {_ms(s.p50)}, p99 {_ms(s.p99)} (the run of row "
                f"3{'abcd'[SHAPES.index(row.shape)]})",
                f"DynamoDB Local's ceiling, the same calls as a refund: {c.per_second:.1f}/s, "
                f"p50 {_ms(c.p50)}, p99 {_ms(c.p99)}",
                _ratio(s.per_second, c.per_second),
                "The ceiling makes exactly the DynamoDB calls row 2a counts per refund, in the "
                "service's order: the idempotency PutItem, the read of the head and the key's "
                "pointer (one BatchGetItem), the reserving "
                "TransactWriteItems, the simulated processor's own calls, the recording "
                "TransactWriteItems and the idempotency UpdateItem. Its two transactions write "
                "the items the service's own code writes for a refund (captured from one "
                "refund on tables of the same schema): the same items, sizes and index "
                "attributes, so the same index writes. The ratio is the service's "
                "overhead above its storage work: Python, validation, logging, tracing and the "
                "local gateway. The local stack's change-stream poller is paused in the bench "
                "(LOCAL_STREAM_SECONDS, tests/bench/stack.py): in AWS the publisher runs on its "
                "own compute, and here its verification of each changed payment would take "
                "the two cores the requests and DynamoDB Local share. Both sides are warmed "
                "first (rows 3a-3c).",
            )
        )
    return out


def wide_row(wide: LoadResult, rows: list[LoadRow], seconds: float) -> TableRow:
    sixteen = next(
        (r.service for r in rows if r.shape.clients == 16 and not r.shape.shared_payment), None
    )
    failed = {k: v for k, v in wide.outcomes.items() if k != "ok"}
    return TableRow(
        "3g",
        f"POST /refunds over HTTP, {wide.clients} clients, distinct payments, for {seconds:.0f} s",
        f"{wide.connection_errors} connection errors; {wide.per_second:.1f}/s, p50 "
        f"{_ms(wide.p50)}, p99 {_ms(wide.p99)} ({wide.ok} of {wide.done} ok"
        + (f"; {failed}" if failed else "")
        + ")",
        f"0 connection errors; 16 clients (row 3c): {sixteen.per_second:.1f}/s"
        if sixteen
        else "0 connection errors",
        _ratio(wide.per_second, sixteen.per_second) if sixteen else "—",
        "Every connection that was reset, refused or closed before its answer counts, also when "
        "the client's one retry then succeeded. The local gateway listens with a backlog of "
        "1024 and sets TCP_NODELAY (local/gateway.py). The ratio compares throughput with 16 "
        "clients: more clients than cores only queue.",
    )


def growth_rows(g: GrowthResult) -> list[TableRow]:
    partial = (
        ""
        if g.unrelated_large >= g.unrelated_large_target
        else f" (of {g.unrelated_large_target:,} asked; the load stopped at its time bound)"
    )
    return [
        TableRow(
            "4a",
            f"Read capacity per refund (ConsumedCapacity), {g.unrelated_small:,} vs "
            f"{g.unrelated_large:,} unrelated items in the ledger table{partial}",
            f"{g.capacity_large:g} RCU (reads {_ms(g.ms_large)})",
            f"{g.capacity_small:g} RCU (reads {_ms(g.ms_small)}) with {g.unrelated_small:,}",
            _ratio(g.capacity_large, g.capacity_small),
            "A refund reads only its payment's partition, so the table's size does not change "
            f"what it reads (loading {g.unrelated_large - g.unrelated_small:,} items took "
            f"{g.fill_seconds:.0f} s).",
        ),
        TableRow(
            "4b",
            f"Read capacity per refund, {g.earlier_few} vs {g.earlier_many} earlier refunds on "
            "the payment",
            f"{g.capacity_many:g} RCU ({g.items_many} items read)",
            f"{g.capacity_few:g} RCU ({g.items_few} items read) with {g.earlier_few}",
            _ratio(g.capacity_many, g.capacity_few),
            "A refund reads its payment's head and its key's pointer by key (one BatchGetItem, "
            "decision 0025), not the payment's partition: what it reads does not grow with the "
            "payment's history. DynamoDB Local charges nothing for a key it does not find; "
            "DynamoDB charges 0.5 RCU for each, so expect 2 RCU there.",
        ),
        TableRow(
            "4c",
            f"Reconciler reads of the pending-refunds index, {g.settled_few:,} vs "
            f"{g.settled_many:,} settled refunds ({g.pending_examined} pending each time)",
            f"{g.index_capacity_many:g} RCU ({g.index_items_many} items)",
            f"{g.index_capacity_few:g} RCU ({g.index_items_few} items) with {g.settled_few:,}",
            _ratio(g.index_capacity_many, g.index_capacity_few),
            "Settled refunds leave the sparse index, so the reconciler reads only what is "
            "pending however many refunds have ever been made.",
        ),
    ]


def render_table(rows: list[TableRow]) -> str:
    lines = [
        "| # | measure | this service | reference | ratio |",
        "|---|---|---|---|---:|",
    ]
    lines += [f"| {r.key} | {r.measure} | {r.service} | {r.reference} | {r.ratio} |" for r in rows]
    return "\n".join(lines)


def _stage_name(stage: Stage) -> str:
    if stage.purpose == REMAINDER:
        return "everything else: Python, validation, logging, tracing, the resolver"
    label = STAGES.get(stage.purpose, f"other AWS calls ({stage.purpose})")
    calls = ", ".join(f"{op} {count:g}" for op, count in stage.operations.items())
    return f"{label}: {calls or 'no call'}"


def render_profile(profile: Profile) -> str:
    """Where a mean warm POST /refunds of row 2a's process spends its wall time."""
    lines = ["| stage | ms per refund | share |", "|---|---:|---:|"]
    lines += [
        f"| {_stage_name(stage)} | {stage.ms:.1f} ms | {profile.share(stage):.0%} |"
        for stage in profile.stages
    ]
    lines.append(
        f"| **a warm POST /refunds, mean of {profile.refunds}** | **{profile.total_ms:.1f} ms** "
        "| **100%** |"
    )
    return "\n".join(lines)


PROFILE_READING = (
    "Measured in row 2a's warm process: the API handler called in-process (no gateway, no "
    "HTTP), the first refund excluded, the mean over the same warm refunds. Each AWS call is "
    "timed on a monotonic clock by botocore event hooks, from the client's first event "
    "(`provide-client-params`, before validation and serialization) to `after-call` (the "
    "response parsed): signing, the loopback round trip to DynamoDB Local or moto and any retry "
    "are in its stage, and its calls are summed per stage per refund. The last stage is the "
    "refund's wall time less all of its calls: the service's own work, including X-Ray's "
    "subsegments around each call and the conversion of items to and from DynamoDB's JSON. "
    "DynamoDB Local is slower than DynamoDB, so on AWS the call stages shrink and the remainder "
    "weighs more; a real processor replaces the simulated processor's memory with one HTTPS "
    "call, and KMS is paid once per data key, not by a warm refund."
)


def render_profile_section(profile: Profile) -> str:
    return f"## Where a warm refund's time goes\n\n{render_profile(profile)}\n\n{PROFILE_READING}\n"


def machine() -> str:
    jar = find_jar().parent.name.removeprefix("dynamodb_local_")
    return (
        f"{os.cpu_count()} cores ({platform.machine()}, {platform.system()} "
        f"{platform.release()}), Python {sys.version.split()[0]}, DynamoDB Local {jar}"
    )


def readings(rows: list[TableRow]) -> str:
    """One bullet per reading; rows that read alike share theirs."""
    groups: list[tuple[list[str], str]] = []
    for row in rows:
        if groups and groups[-1][1] == row.reading:
            groups[-1][0].append(row.key)
        else:
            groups.append(([row.key], row.reading))
    return "\n".join(f"- **{', '.join(keys)}.** {reading}" for keys, reading in groups)


def document(rows: list[TableRow], profile: Profile, settings: str, seconds: float) -> str:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    return f"""# Performance

Measured with `make bench` on {today} in {seconds:.0f} s, on {machine()}.
Settings: {settings}.

Everything runs on this one machine over loopback: the local stack (`python -m local run`:
the handlers behind the local gateway, DynamoDB Local, moto server) and the clients. The
machine is shared and noisy, so absolute times move between runs; each row compares two
figures measured in the same run, and the ratio is the figure to read. DynamoDB Local is far
slower than DynamoDB, so absolute latencies say nothing about AWS; call counts and capacity
units carry over as they are.

{render_table(rows)}

{render_profile_section(profile)}
## How to read each row

{readings(rows)}

## Reproduce

`make bench` ({seconds / 60:.0f} minutes for this file; the load rows 3a-3g take about five of
them) prints this table and rewrites this file. `make bench ROWS=3e,3f` (`python -m tests.bench
--rows 3e,3f`) runs only what those rows and their references need and prints them, leaving
this file alone unless `--out` names one; `--at-most N` caps every table fill. `make fuzz`
runs schemathesis against the stack's own OpenAPI document and `make stress` sends 2,000 mixed
concurrent requests and then verifies every ledger and audit chain; `make test` runs a
seconds-long version of all three (`tests/perf/`). Why the benchmark is built this way:
[decision 0012](decisions/0012-benchmarks.md).
"""
