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

Then a hostile pass that schemathesis cannot express: every operation again with its method in
other cases (`get`, `Get`) and with bodies too large, too deep, with a 5,000-digit number,
repeated keys or a lone surrogate, each with and without a token. The promise there: no 5xx,
and every refusal in the error envelope.

Exit status is non-zero when any schemathesis check or any hostile request failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
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

# What `make test` runs: valid requests only, the checks that say "no 5xx, answers as documented".
SMOKE_CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)
FUZZ_CHECKS = SMOKE_CHECKS + ",response_headers_conformance,negative_data_rejection"


@dataclass
class FuzzRun:
    returncode: int
    output: str
    seconds: float


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
    seed: int | None = None,
    workers: int = 2,
    echo: bool = False,
) -> FuzzRun:
    token = stack.token()
    with tempfile.TemporaryDirectory(prefix="refund-fuzz-") as scratch:
        config = Path(scratch) / "schemathesis.toml"
        config.write_text(CONFIG)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.fuzz", description=__doc__)
    parser.add_argument("--max-time", type=int, default=180, help="seconds of fuzzing (bound)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    print("starting the local stack on free loopback ports...", flush=True)
    with bench_stack() as stack:
        print(f"fuzzing {stack.base_url}/openapi.json for at most {args.max_time} s", flush=True)
        run = run_schemathesis(stack, max_time=args.max_time, seed=args.seed, echo=True)
        print("\nhostile pass: method spellings and oversized, deep, malformed bodies", flush=True)
        sent, failures = hostile_failures(stack)
    print("\n".join(failures) or f"{sent} hostile requests: no 5xx, every refusal enveloped")
    print(f"\nfuzz finished in {run.seconds:.0f} s with exit status {run.returncode}")
    return run.returncode or (1 if failures else 0)


if __name__ == "__main__":
    sys.exit(main())
