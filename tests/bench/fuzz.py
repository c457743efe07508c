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

Exit status is schemathesis's: non-zero when any check failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.fuzz", description=__doc__)
    parser.add_argument("--max-time", type=int, default=180, help="seconds of fuzzing (bound)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    print("starting the local stack on free loopback ports...", flush=True)
    with bench_stack() as stack:
        print(f"fuzzing {stack.base_url}/openapi.json for at most {args.max_time} s", flush=True)
        run = run_schemathesis(stack, max_time=args.max_time, seed=args.seed, echo=True)
    print(f"\nfuzz finished in {run.seconds:.0f} s with exit status {run.returncode}")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
