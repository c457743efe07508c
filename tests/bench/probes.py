"""Rows 1 and 2: the API handler in fresh processes (cold start) and its AWS calls (warm).

Each probe is `python -m tests.bench.probe` in a new interpreter with the handler's
environment (local/config.py `handler_environment`) pointed at the bench stack's DynamoDB
Local and moto server, so the first request is a real refund: DynamoDB reads and writes and
one KMS GenerateDataKey, over loopback.
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
from pathlib import Path
from typing import Any

from tests.bench.stack import BenchStack
from tests.bench.throughput import seed_payments
from tests.support.dynamodb_local import ROOT

# The floor: one Query reads the payment, two TransactWriteItems record reservation and outcome.
FLOOR_DYNAMODB = 3
FLOOR_KMS = 0


def _environment(stack: BenchStack, payments: list[str]) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_")) and key != "PYTHONPATH"
    }
    env.update(stack.handler_environment())
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "runtime"), str(ROOT)]),
        PYTHONDONTWRITEBYTECODE="",
        BENCH_PAYMENTS=",".join(payments),
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    return env


def run_probe(stack: BenchStack, mode: str, payments: list[str], timeout: float = 120) -> Any:
    with tempfile.TemporaryDirectory(prefix="refund-probe-") as scratch:
        out = Path(scratch) / "result.json"
        completed = subprocess.run(
            [sys.executable, "-m", "tests.bench.probe", mode, str(out)],
            cwd=ROOT,
            env=_environment(stack, payments),
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
        run_probe(stack, "cold-bare", [])
    for index in range(runs):  # interleaved, so drift on a noisy machine hits both alike
        service = run_probe(stack, "cold-service", [payments[index]])
        if service["status"] != 200:
            raise RuntimeError(f"the cold-start refund answered {service['status']}")
        result.service.append(service)
        result.bare.append(run_probe(stack, "cold-bare", []))
    return result


@dataclass
class AwsCalls:
    first: dict[str, int]
    warm: list[dict[str, int]]
    statuses: list[int]

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
    warm = answer["warm"]
    statuses = [answer["first"]["status"], *(r["status"] for r in warm)]
    return AwsCalls(answer["first"]["calls"], [r["calls"] for r in warm], statuses)
