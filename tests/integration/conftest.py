"""The local stack as a user starts it (`python -m local run`), on free ports, over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local import auth
from tests.support.dynamodb_local import ROOT, free_ports


@dataclass
class RunningStack:
    base_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def token(self, scopes: str = auth.ALL_SCOPES, **claims: Any) -> str:
        return auth.mint(auth.signing_key(self.data_dir / "jwt-signing-key.pem"), scopes, **claims)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), _json(error.read())


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload) if payload else {}
    except ValueError:
        return payload.decode()


class PortTakenError(RuntimeError):
    """The stack stopped because one of its ports was taken (by another test run, say)."""


def start_stack(data_dir: Path, log: Path, settings: dict[str, str] | None = None) -> RunningStack:
    """The stack on fresh free ports; once more on other fresh ports if one was taken."""
    try:
        return _start_stack_once(data_dir, log, settings)
    except PortTakenError:
        return _start_stack_once(data_dir, log, settings)


def _start_stack_once(data_dir: Path, log: Path, settings: dict[str, str] | None) -> RunningStack:
    port, dynamodb_port, moto_port = free_ports(3)
    env = {
        **os.environ,
        "PORT": str(port),
        "DYNAMODB_PORT": str(dynamodb_port),
        "MOTO_PORT": str(moto_port),
        "LOCAL_DATA_DIR": str(data_dir),
        "RECONCILE_SECONDS": "3600",
        # The simulated processor decides a `pending` refund only when looked up; its
        # webhooks for `timeout` refunds still go out within a second.
        "SIMULATED_PENDING_SECONDS": "3600",
        **(settings or {}),
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    log_start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", "run"],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    stack = RunningStack(f"http://127.0.0.1:{port}", data_dir, process, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            printed = log.read_bytes()[log_start:].decode(errors="replace")
            failure = PortTakenError if "error: Port " in printed else RuntimeError
            raise failure(f"local stack exited: {printed[-2000:]}")
        try:
            urllib.request.urlopen(stack.base_url + "/.well-known/jwks.json", timeout=1)
            return stack
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"local stack did not start: {log.read_text()[-2000:]}")


def stop_stack(stack: RunningStack) -> None:
    stack.process.terminate()
    try:
        stack.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stack.process.kill()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp("local-stack")
    running = start_stack(data_dir, data_dir / "stack.log")
    yield running
    stop_stack(running)
