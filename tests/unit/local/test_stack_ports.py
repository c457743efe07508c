"""The integration suite's `start_stack`: three distinct ports, and a second try on fresh
ports when the stack stops because one was taken."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import conftest as integration
from tests.support import dynamodb_local as helper


class ReusingKernel:
    """Binds port 0 to the lowest port no open socket holds: a closed probe's port is handed
    out again at once, as a kernel may do (to this test run or to another)."""

    def __init__(self) -> None:
        self.held: set[int] = set()

    def socket(self) -> ProbeSocket:
        return ProbeSocket(self)


class ProbeSocket:
    def __init__(self, kernel: ReusingKernel):
        self.kernel = kernel
        self.port = 0

    def __enter__(self) -> ProbeSocket:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def bind(self, _address: tuple[str, int]) -> None:
        self.port = min(set(range(41000, 41010)) - self.kernel.held)
        self.kernel.held.add(self.port)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def close(self) -> None:
        self.kernel.held.discard(self.port)


class ExitedStack:
    returncode = 1

    def poll(self) -> int:
        return self.returncode


class RunningStackProcess:
    returncode = None

    def poll(self) -> None:
        return None


class Launches:
    """Stands in for `subprocess.Popen` of `python -m local run`: records each environment;
    the first `port_taken` launches stop as the stack does when a port is taken, the next
    one serves the JWKS path on its PORT."""

    def __init__(self, port_taken: int) -> None:
        self.port_taken = port_taken
        self.environments: list[dict[str, str]] = []
        self.servers: list[http.server.ThreadingHTTPServer] = []

    def __call__(self, _command: list[str], **options: Any) -> Any:
        env = options["env"]
        self.environments.append(env)
        if len(self.environments) <= self.port_taken:
            port = env["DYNAMODB_PORT"]
            options["stdout"].write(
                f"error: Port {port} (DynamoDB Local) was taken by another program while "
                "DynamoDB Local started; stop what holds it or set another port.\n".encode()
            )
            return ExitedStack()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", int(env["PORT"])), Jwks)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        return RunningStackProcess()


class Jwks(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"keys": []}')

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> Iterator[Launches]:
    recorded = Launches(port_taken=1)
    monkeypatch.setattr(subprocess, "Popen", recorded)
    yield recorded
    for server in recorded.servers:
        server.shutdown()
        server.server_close()


def test_the_three_ports_are_distinct_even_when_a_closed_port_comes_back_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helper, "socket", ReusingKernel())
    environments: list[dict[str, str]] = []

    def exits(_command: list[str], **options: Any) -> ExitedStack:
        environments.append(options["env"])
        return ExitedStack()

    monkeypatch.setattr(subprocess, "Popen", exits)
    with pytest.raises(RuntimeError, match="local stack exited"):
        integration.start_stack(tmp_path, tmp_path / "stack.log")
    ports = [environments[0][name] for name in ("PORT", "DYNAMODB_PORT", "MOTO_PORT")]
    assert len(set(ports)) == 3, ports


def test_a_stack_stopped_by_a_taken_port_is_started_again_on_fresh_ports(
    tmp_path: Path, launches: Launches
) -> None:
    stack = integration.start_stack(tmp_path, tmp_path / "stack.log")
    assert len(launches.environments) == 2
    first, second = launches.environments
    assert stack.base_url == f"http://127.0.0.1:{second['PORT']}"
    assert [first[name] for name in ("PORT", "DYNAMODB_PORT", "MOTO_PORT")] != [
        second[name] for name in ("PORT", "DYNAMODB_PORT", "MOTO_PORT")
    ]


def test_a_port_taken_twice_fails_after_the_second_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = Launches(port_taken=2)
    monkeypatch.setattr(subprocess, "Popen", recorded)
    with pytest.raises(RuntimeError, match="was taken by another program"):
        integration.start_stack(tmp_path, tmp_path / "stack.log")
    assert len(recorded.environments) == 2
