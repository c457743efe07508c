"""Rows 1 and 2: the API handler in fresh processes (cold start) and its AWS calls (warm).

Each probe is `python -m tests.bench.probe` in a new interpreter with the handler's
environment (local/config.py `handler_environment`) pointed at the bench stack's DynamoDB
Local and moto server, so the first request is a real refund: DynamoDB reads and writes and
one KMS GenerateDataKey, over loopback.

The process is made Lambda-like: its interpreter is a venv holding only requirements.txt
(built under .build/ with uv from the lock, cached after the first time), and LAMBDA_TASK_ROOT
and a trace header are set as Lambda sets them. Outside Lambda, the X-Ray SDK starts a sampler
that builds two botocore clients at import, which Lambda's processes never pay for.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from tests.bench.stack import BenchStack
from tests.bench.throughput import seed_payments
from tests.support.dynamodb_local import ROOT

RUNTIME_VENV = ROOT / ".build" / "bench-runtime"
# As Lambda sets it for a sampled request: the X-Ray SDK then records to a segment of its own.
TRACE_HEADER = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"
FX_RATES_TABLE = "RefundFxRates"

# The floor: one Query reads the payment, two TransactWriteItems record reservation and outcome.
FLOOR_DYNAMODB = 3
FLOOR_KMS = 0


@cache
def runtime_python() -> Path:
    """The interpreter of a venv holding only requirements.txt, at the lock's versions."""
    python = RUNTIME_VENV / "bin" / "python"
    uv = Path(sys.executable).parent / "uv"
    if not python.exists():
        subprocess.run(
            [str(uv), "venv", "--quiet", "--python", sys.executable, str(RUNTIME_VENV)],
            check=True,
        )
    requirements = ["-r", str(ROOT / "requirements.txt"), "-c", str(ROOT / "requirements.lock")]
    subprocess.run(  # quick when nothing changed: the packages come from uv's cache
        [str(uv), "pip", "install", "--quiet", "--python", str(python), *requirements],
        check=True,
    )
    return python


def _environment(
    stack: BenchStack, payments: list[str], extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_", "VIRTUAL_ENV")) and key != "PYTHONPATH"
    }
    env.update(stack.handler_environment())
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "runtime"), str(ROOT)]),
        PYTHONDONTWRITEBYTECODE="",
        BENCH_PAYMENTS=",".join(payments),
        POWERTOOLS_LOG_LEVEL="WARNING",
        LAMBDA_TASK_ROOT=str(ROOT / "runtime"),
        AWS_LAMBDA_FUNCTION_NAME="refund-service-bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024",
        _X_AMZN_TRACE_ID=TRACE_HEADER,
        AWS_XRAY_CONTEXT_MISSING="LOG_ERROR",
        **(extra or {}),
    )
    return env


def run_probe(
    stack: BenchStack,
    mode: str,
    payments: list[str],
    timeout: float = 120,
    extra: dict[str, str] | None = None,
) -> Any:
    with tempfile.TemporaryDirectory(prefix="refund-probe-") as scratch:
        out = Path(scratch) / "result.json"
        completed = subprocess.run(
            [str(runtime_python()), "-m", "tests.bench.probe", mode, str(out)],
            cwd=ROOT,
            env=_environment(stack, payments, extra),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
        if completed.returncode != 0 or not out.exists():
            raise RuntimeError(f"probe {mode} failed: {completed.stderr.decode()[-2000:]}")
        return json.loads(out.read_text())


@dataclass
class ColdStart:
    service: list[dict[str, float]] = field(default_factory=list)
    bare: list[dict[str, float]] = field(default_factory=list)

    @staticmethod
    def _median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs) if runs else 0.0

    def total(self, which: str) -> float:
        runs = getattr(self, which)
        return statistics.median(r["import_ms"] + r["first_ms"] for r in runs) if runs else 0.0

    def part(self, which: str, key: str) -> float:
        return self._median(getattr(self, which), key)

    @property
    def ratio(self) -> float:
        bare = self.total("bare")
        return self.total("service") / bare if bare else float("nan")


def cold_start(stack: BenchStack, runs: int = 5, warm_up: bool = True) -> ColdStart:
    """Median of `runs` fresh processes each; one discarded run first writes bytecode caches."""
    payments = seed_payments(stack, runs + 1, "bench-cold")
    result = ColdStart()
    if warm_up:
        run_probe(stack, "cold-service", payments[-1:])
        run_probe(stack, "cold-bare", payments[-1:])
    for index in range(runs):  # interleaved, so drift on a noisy machine hits both alike
        service = run_probe(stack, "cold-service", [payments[index]])
        bare = run_probe(stack, "cold-bare", [payments[index]])
        for answered in (service, bare):
            if answered["status"] != 200:
                raise RuntimeError(f"a cold-start refund answered {answered['status']}")
        result.service.append(service)
        result.bare.append(bare)
    return result


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs) if runs else 0.0


@dataclass
class Restore:
    """Row 1b: primed as before a snapshot, restored, then a first refund and a warm one."""

    runs: list[dict[str, Any]]

    def median(self, key: str) -> float:
        return _median(self.runs, key)

    @property
    def ratio(self) -> float:
        warm = self.median("warm_ms")
        return self.median("first_ms") / warm if warm else float("nan")


def snapstart_restore(stack: BenchStack, runs: int = 5) -> Restore:
    payments = seed_payments(stack, 2 * runs, "bench-restore")
    measured = []
    for index in range(runs):
        answer = run_probe(stack, "snapstart", payments[2 * index : 2 * index + 2])
        if (answer["status"], answer["warm_status"]) != (200, 200):
            raise RuntimeError(f"a restored refund answered {answer}")
        measured.append(answer)
    return Restore(measured)


@dataclass
class FirstFx:
    """Row 1c: a first refund converted from EUR, stored daily rates or the bundled history."""

    stored: list[dict[str, Any]]
    bundled: list[dict[str, Any]]

    def median(self, which: str) -> float:
        return _median(getattr(self, which), "first_ms")


def store_todays_rates(stack: BenchStack) -> None:
    """One stored publication day, as the FX-rates function leaves it (EUR and USD suffice)."""
    from refund_service.adapters.dynamodb.fx_rates import DynamoDBRatesStore
    from refund_service.adapters.ecb_feed import DailyRates

    today = datetime.now(UTC).date()
    rates = DailyRates(today, {"USD": Decimal("1.0815"), "GBP": Decimal("0.8342")})
    DynamoDBRatesStore(stack.client("dynamodb"), FX_RATES_TABLE).put(rates)


def first_fx(stack: BenchStack, runs: int = 5) -> FirstFx:
    store_todays_rates(stack)
    payments = seed_payments(stack, 2 * runs, "bench-fx")
    converting = {"CURRENCY_CONVERSION": "true"}
    stored_table = {**converting, "FX_RATES_TABLE_NAME": FX_RATES_TABLE}
    result = FirstFx([], [])
    for index in range(runs):  # interleaved, as for row 1
        stored = run_probe(stack, "first-fx", [payments[2 * index]], extra=stored_table)
        bundled = run_probe(stack, "first-fx", [payments[2 * index + 1]], extra=converting)
        for answered, served_by in ((stored, "StoredEcbRateSource"), (bundled, "bundled")):
            if answered["status"] != 200 or answered["served_by"] != served_by:
                raise RuntimeError(f"a first FX refund went wrong: {answered}")
        result.stored.append(stored)
        result.bundled.append(bundled)
    return result


# The stages of a warm refund's wall time that are AWS calls, by the purpose the probe gives them.
STAGES = {
    "ledger": "the ledger's DynamoDB calls",
    "idempotency": "Powertools idempotency",
    "processor stand-in": "the simulated processor's memory (its own DynamoDB calls)",
    "kms": "KMS",
}
REMAINDER = "remainder"  # what no AWS call took: Python, validation, logging, tracing, resolver


@dataclass(frozen=True)
class Stage:
    purpose: str  # a key of STAGES, another AWS service's purpose, or REMAINDER
    ms: float  # mean per warm refund
    operations: dict[str, float]  # operation -> mean timed calls per warm refund

    @property
    def calls(self) -> float:
        return sum(self.operations.values())


@dataclass(frozen=True)
class Profile:
    """Where a mean warm refund's wall time goes; the stages sum to `total_ms`."""

    total_ms: float
    stages: list[Stage]
    refunds: int

    def stage(self, purpose: str) -> Stage:
        return next(stage for stage in self.stages if stage.purpose == purpose)

    def share(self, stage: Stage) -> float:
        return stage.ms / self.total_ms if self.total_ms else 0.0


@dataclass
class WarmRefund:
    """One warm refund of the aws-calls probe: its calls, their times, its own wall time."""

    calls: dict[str, int]  # "service:operation:purpose" -> calls, counted at before-call
    timed: dict[str, int]  # the same keys -> calls timed to their end
    ms: dict[str, float]  # the same keys -> milliseconds those calls took
    wall_ms: float


def _stage(refunds: list[WarmRefund], purpose: str) -> Stage:
    n = max(1, len(refunds))
    ms = 0.0
    operations: Counter[str] = Counter()
    for refund in refunds:
        for key, count in refund.timed.items():
            _, operation, why = key.split(":")
            if why == purpose:
                operations[operation] += count
                ms += refund.ms.get(key, 0.0)
    return Stage(purpose, ms / n, {op: count / n for op, count in sorted(operations.items())})


def profile(refunds: list[WarmRefund]) -> Profile:
    """The mean over `refunds` of each stage; the remainder is what no AWS call took."""
    seen = {key.split(":")[2] for refund in refunds for key in refund.timed}
    purposes = [*STAGES, *sorted(seen - set(STAGES))]  # then any other service called
    stages = [_stage(refunds, purpose) for purpose in purposes]
    total = sum(r.wall_ms for r in refunds) / max(1, len(refunds))
    stages.append(Stage(REMAINDER, total - sum(stage.ms for stage in stages), {}))
    return Profile(total, stages, len(refunds))


@dataclass
class AwsCalls:
    first: dict[str, int]
    warm_refunds: list[WarmRefund]
    statuses: list[int]

    @property
    def warm(self) -> list[dict[str, int]]:
        return [refund.calls for refund in self.warm_refunds]

    @property
    def profile(self) -> Profile:
        return profile(self.warm_refunds)

    def per_refund(self, service: str, purpose: str | None = None) -> float:
        """Mean calls per warm refund to `service` (optionally for one purpose)."""
        if not self.warm:
            return 0.0
        total = 0
        for calls in self.warm:
            for key, count in calls.items():
                name, _, why = key.split(":")
                if name == service and (purpose is None or why == purpose):
                    total += count
        return total / len(self.warm)

    def by_operation(self, purpose_filter: set[str] | None = None) -> dict[str, float]:
        totals: Counter[str] = Counter()
        for calls in self.warm:
            totals.update(calls)
        n = max(1, len(self.warm))
        return {
            key: count / n
            for key, count in sorted(totals.items())
            if purpose_filter is None or key.split(":")[2] in purpose_filter
        }

    @property
    def service_dynamodb(self) -> float:
        """DynamoDB calls the service makes itself (the processor stand-in is not the service)."""
        return self.per_refund("dynamodb", "ledger") + self.per_refund("dynamodb", "idempotency")


def aws_calls(stack: BenchStack, refunds: int = 10) -> AwsCalls:
    """One warm process: the first refund (cold) is reported apart, then `refunds` more."""
    payments = seed_payments(stack, refunds + 1, "bench-calls")
    answer = run_probe(stack, "aws-calls", payments)
    warm = [WarmRefund(r["calls"], r["timed"], r["ms"], r["wall_ms"]) for r in answer["warm"]]
    statuses = [answer["first"]["status"], *(r["status"] for r in answer["warm"])]
    return AwsCalls(answer["first"]["calls"], warm, statuses)
