"""`make fuzz`: schemathesis against the running local stack's own OpenAPI document.

Starts the stack on free loopback ports, fetches GET /openapi.json and sends valid and invalid
requests with a full-scope token, bounded in time, checking what the service promises: no 5xx,
every answer's status, content type, headers and body as documented, and schema-invalid data
refused. Not checked, on purpose:

- `positive_data_acceptance`: some rules are stricter than JSON Schema can say (a currency must
  be one ISO 4217 lists; `settlement_currency` and `fx_rate` come together; `10.0` is not an
  integer amount), so a schema-valid body may rightly be refused with 400.
- `unsupported_method`: in AWS the HTTP API answers a method no route declares itself (404),
  before any function runs; the service does not promise 405.

Before it runs, a few payments, refunds and chargebacks are recorded, and their ids are bound to
the path parameters (and to `POST /refunds`' `transaction_id`) half of the time, so the examples,
coverage and fuzzing phases reach real data rather than 404s; payments get a listed currency
and a real capture time half of the time, so more of them are recorded; the stateful phase
follows the document's links (`POST /transactions` to the payment's ledger, audit, chargebacks
and refunds, `POST /refunds` to the refund and its rollback) to ids it created itself. It runs
as a second schemathesis run with a third of `--max-time`: in one run, fuzzing takes nearly all
the time and few links get followed.

Then a hostile pass that schemathesis cannot express: every operation again with its method in
other cases (`get`, `Get`) and with bodies too large, too deep, with a 5,000-digit number,
repeated keys or a lone surrogate, each with and without a token. The promise there: no 5xx,
and every refusal in the error envelope.

The verdict is deterministic where schemathesis allows: a fixed seed (`--seed` to change it) and
one worker. One worker also keeps the tooling's own crash away: hypothesis describes a filter's
lambda by `ast.parse`-ing its module, and CPython 3.11 keeps the AST constructor's recursion depth
in state that threads share (python/cpython#106905), so two workers parsing at once can fail with
`SystemError: AST constructor recursion depth mismatch`, an error of the tool, not the service.

The summary tells the two apart: service failures (a check failed, the service did not answer)
exit 1; tool errors (schemathesis or hypothesis raised) exit 2 and are reported as such.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench.stack import BenchStack, bench_stack

CONFIG = """\
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[checks.unsupported_method]
enabled = false
"""
DEFAULT_SEED = 13
# The stateful phase's share of --max-time.
STATEFUL_SHARE = 1 / 3
# How often a generated path id is swapped for one of the seeded ones.
SEEDED_ID_PROBABILITY = 0.5
CHARGEBACK_ID = "fuzz-dispute"
# Errors schemathesis reports that come from the service: it did not answer, or not in time.
SERVICE_ERRORS = ("Network Error", "Unresponsive Operation", "Unhealthy API", "Server Unavailable")

# What `make test` runs: valid requests only, the checks that say "no 5xx, answers as documented".
SMOKE_CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)
FUZZ_CHECKS = SMOKE_CHECKS + ",response_headers_conformance,negative_data_rejection"


@dataclass(frozen=True)
class SeededData:
    """Ids that exist in the stack before schemathesis starts."""

    transactions: list[str]
    refunds: list[str]
    chargebacks: list[str]


@dataclass
class FuzzRun:
    returncode: int
    output: str
    seconds: float


@dataclass(frozen=True)
class Verdict:
    """A schemathesis run's summary, the service's failures apart from the tool's errors."""

    cases: int
    service_failures: dict[str, int]
    tool_errors: dict[str, int]

    @property
    def exit_status(self) -> int:
        return 1 if self.service_failures else 2 if self.tool_errors else 0

    def describe(self) -> str:
        def listed(counts: dict[str, int]) -> str:
            return ", ".join(f"{name} x{count}" for name, count in counts.items()) or "none"

        return (
            f"{self.cases} cases; service failures: {listed(self.service_failures)}; "
            f"tool errors (schemathesis/hypothesis, not the service): {listed(self.tool_errors)}"
        )


_SUMMARY_LINE = re.compile(r"^\s+(?:❌|🚫)\s+(.+?):\s+(\d+)\s*$")
_CASES = re.compile(r"^\s+(\d+) generated")


def verdict_of(output: str) -> Verdict:
    """Read the SUMMARY section: `Failures:` lists checks the service failed, `Errors:` lists
    errors, which are the service's when it did not answer and the tool's otherwise."""
    summary = output.rsplit(" SUMMARY ", 1)[-1]
    failures: dict[str, int] = {}
    tools: dict[str, int] = {}
    section = ""
    cases = 0
    for line in summary.splitlines():
        if line.strip().endswith(":") and not line.startswith(" "):
            section = line.strip()
        if counted := _CASES.match(line):
            cases = int(counted.group(1))
        item = _SUMMARY_LINE.match(line)
        if item is None or section not in ("Failures:", "Errors:"):
            continue
        name, count = item.group(1), int(item.group(2))
        service = section == "Failures:" or name in SERVICE_ERRORS
        (failures if service else tools)[name] = count
    return Verdict(cases, failures, tools)


def seed_data(stack: BenchStack) -> SeededData:
    """Three refundable payments with two refunds each, and two disputed payments, all through
    the API, so the ids the fuzzing draws from exist."""
    token = stack.token()
    run = uuid.uuid4().hex[:8]
    refundable = [f"fuzz-{run}-{n}" for n in range(3)]
    disputed = [f"fuzz-{run}-disputed-{n}" for n in range(2)]
    refunds = []
    for transaction_id in refundable + disputed:
        payment = {
            "transaction_id": transaction_id,
            "amount": 500_000,
            "currency": "USD",
            "status": "completed",
            "tax_amount": 50_000,
            "fee_amount": 10_000,
        }
        status, _, answer = stack.request("POST", "/transactions", payment, token=token)
        assert status == 201, answer
    for transaction_id in refundable:
        for _ in range(2):
            refund = {"transaction_id": transaction_id, "amount": 1_000, "reason": "other"}
            key = {"Idempotency-Key": uuid.uuid4().hex}
            status, _, answer = stack.request("POST", "/refunds", refund, token=token, headers=key)
            assert status == 200, answer
            refunds.append(answer["refund_transaction_id"])
    for transaction_id in disputed:
        path = f"/transactions/{transaction_id}/chargebacks"
        body = {"chargeback_id": CHARGEBACK_ID, "amount": 10_000}
        status, _, answer = stack.request("POST", path, body, token=token)
        assert status == 201, answer
    return SeededData(refundable + disputed, refunds, [CHARGEBACK_ID])


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def config_text(data: SeededData | None, probability: float = SEEDED_ID_PROBABILITY) -> str:
    """The schemathesis configuration: the checks, and the seeded ids bound to parameters
    (each drawn instead of a generated value with `probability`)."""
    if data is None:
        return CONFIG
    seeded = f"{{ dictionary = %s, probability = {probability} }}"
    return CONFIG + "\n".join(
        [
            "",
            "[dictionaries.transactions]",
            f"values = {_toml_list(data.transactions)}",
            "[dictionaries.refunds]",
            f"values = {_toml_list(data.refunds)}",
            "[dictionaries.chargebacks]",
            f"values = {_toml_list(data.chargebacks)}",
            "",
            "[parameters]",
            '"path.transaction_id" = ' + seeded % '"transactions"',
            '"path.refund_id" = ' + seeded % '"refunds"',
            '"path.chargeback_id" = ' + seeded % '"chargebacks"',
            "",
            "[[operations]]",
            'include-name = "POST /refunds"',
            "[operations.parameters]",
            '"body.transaction_id" = ' + seeded % '"transactions"',
            "",
            # Most generated payments are refused (a currency must be one ISO 4217 lists, a
            # capture time a real instant), so few reach the links; real values half the time.
            "[dictionaries.currencies]",
            'values = ["USD", "EUR", "JPY", "GBP"]',
            "[dictionaries.instants]",
            'values = ["2026-11-02T09:00:00Z", "2026-11-20T17:30:00+01:00"]',
            "[[operations]]",
            'include-name = "POST /transactions"',
            "[operations.parameters]",
            '"body.currency" = ' + seeded % '"currencies"',
            '"body.captured_at" = ' + seeded % '"instants"',
            "",
        ]
    )


def schemathesis_binary() -> str:
    return str(Path(sys.executable).with_name("schemathesis"))


def run_schemathesis(
    stack: BenchStack,
    *,
    max_time: int,
    max_examples: int | None = None,
    mode: str = "all",
    checks: str = FUZZ_CHECKS,
    phases: str | None = None,
    seed: int | None = DEFAULT_SEED,
    workers: int = 1,
    data: SeededData | None = None,
    seeded_probability: float = SEEDED_ID_PROBABILITY,
    echo: bool = False,
) -> FuzzRun:
    token = stack.token()
    with tempfile.TemporaryDirectory(prefix="refund-fuzz-") as scratch:
        config = Path(scratch) / "schemathesis.toml"
        config.write_text(config_text(data, seeded_probability))
        command = [
            schemathesis_binary(),
            "--config-file",
            str(config),
            "run",
            f"{stack.base_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            checks,
            "--mode",
            mode,
            "--max-time",
            str(max_time),
            "--workers",
            str(workers),
            "--request-timeout",
            "30",
            "--report-dir",
            str(Path(scratch) / "report"),
        ]
        if max_examples is not None:
            command += ["--max-examples", str(max_examples)]
        if phases is not None:
            command += ["--phases", phases]
        if seed is not None:
            command += ["--seed", str(seed)]
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=scratch,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "HOME": scratch},
        )
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if echo:
                print(line, end="", flush=True)
        try:
            returncode = process.wait(timeout=max_time + 120)
        except subprocess.TimeoutExpired:
            process.kill()
            returncode = -9
        return FuzzRun(returncode, "".join(lines), time.monotonic() - started)


HOSTILE_BODIES: dict[str, bytes] = {
    "3,000-deep array with a lone surrogate": b"[" * 3000 + b'"\\ud800"' + b"]" * 3000,
    "2,000-deep object": b'{"a":' * 2000 + b"1" + b"}" * 2000,
    "over the 16 KiB body limit": b'{"reason": "' + b"x" * 17_000 + b'"}',
    "1 MiB array": b"[" + b"1," * 500_000 + b"1]",
    "5,000-digit amount": b'{"amount": ' + b"9" * 5000 + b"}",
    "repeated keys": b'{"transaction_id": "a", "transaction_id": "b", "amount": 1, "amount": 2}',
    "lone surrogate": b'{"reason": "\\udc00"}',
}


@dataclass(frozen=True)
class HostileRequest:
    case: str
    method: str
    path: str
    body: bytes | None
    with_token: bool


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(METHOD, path with its parameters filled) of every operation the document lists."""
    found = []
    for template, item in document["paths"].items():
        path = template
        for name in ("transaction_id", "refund_id", "processor"):
            path = path.replace("{" + name + "}", "fuzz-absent")
        found += [(method.upper(), path) for method in item]
    return found


def hostile_requests(document: dict[str, Any]) -> Iterator[HostileRequest]:
    for method, path in operations(document):
        for with_token in (True, False):
            for spelling in (method.lower(), method.capitalize()):
                yield HostileRequest("method spelled " + spelling, spelling, path, None, with_token)
            for case, body in HOSTILE_BODIES.items():
                yield HostileRequest(case, method, path, body, with_token)


def hostile_failures(stack: BenchStack) -> tuple[int, list[str]]:
    """(requests sent, what broke the promise): no 5xx, every refusal in the error envelope."""
    status, _, document = stack.request("GET", "/openapi.json")
    assert status == 200, document
    token = stack.token()
    sent, failures = 0, []
    for request in hostile_requests(document):
        status, _, answer = stack.request(
            request.method,
            request.path,
            raw=request.body,
            token=token if request.with_token else None,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        sent += 1
        enveloped = isinstance(answer, dict) and answer.get("status") == "failed"
        if status >= 500 or (status >= 400 and not enveloped):
            label = "with token" if request.with_token else "no token"
            failures.append(f"{request.method} {request.path} [{request.case}, {label}]: {status}")
    return sent, failures


def combined(verdicts: list[Verdict]) -> Verdict:
    failures: Counter[str] = Counter()
    tools: Counter[str] = Counter()
    for verdict in verdicts:
        failures.update(verdict.service_failures)
        tools.update(verdict.tool_errors)
    return Verdict(sum(v.cases for v in verdicts), dict(failures), dict(tools))


def fuzz(stack: BenchStack, max_time: int, seed: int) -> tuple[list[FuzzRun], Verdict]:
    """The stateless phases, then the stateful one with a budget of its own: run together,
    fuzzing takes nearly all the time and few links are followed."""
    data = seed_data(stack)
    stateful_time = max(10, round(max_time * STATEFUL_SHARE))
    runs = [
        run_schemathesis(
            stack,
            max_time=max_time - stateful_time,
            phases="examples,coverage,fuzzing",
            seed=seed,
            data=data,
            echo=True,
        ),
        run_schemathesis(
            stack, max_time=stateful_time, phases="stateful", seed=seed, data=data, echo=True
        ),
    ]
    verdicts = [verdict_of(run.output) for run in runs]
    for run, verdict in zip(runs, verdicts, strict=True):
        if run.returncode and not verdict.service_failures and not verdict.tool_errors:
            verdict.tool_errors[f"schemathesis exited {run.returncode} without a summary"] = 1
    return runs, combined(verdicts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.fuzz", description=__doc__)
    parser.add_argument("--max-time", type=int, default=180, help="seconds of fuzzing (bound)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    print("starting the local stack on free loopback ports...", flush=True)
    with bench_stack() as stack:
        print(f"fuzzing {stack.base_url}/openapi.json for at most {args.max_time} s", flush=True)
        runs, verdict = fuzz(stack, args.max_time, args.seed)
        print("\nhostile pass: method spellings and oversized, deep, malformed bodies", flush=True)
        sent, failures = hostile_failures(stack)
    print("\n".join(failures) or f"{sent} hostile requests: no 5xx, every refusal enveloped")
    seconds = sum(run.seconds for run in runs)
    print(f"\nfuzz finished in {seconds:.0f} s (seed {args.seed}): {verdict.describe()}")
    if verdict.tool_errors and not verdict.service_failures:
        print("the service passed every check; the fuzzing tool itself failed (exit 2)")
    return 1 if failures else verdict.exit_status


if __name__ == "__main__":
    sys.exit(main())
