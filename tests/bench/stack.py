"""The local stack for a run: started with the integration suite's helper, its endpoints found."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local import auth
from local.config import LocalConfig
from tests.integration.conftest import RunningStack, start_stack, stop_stack
from tests.support.dynamodb_local import dynamodb_local

_DYNAMODB = re.compile(r"DynamoDB Local (http://127\.0\.0\.1:\d+)")
_MOTO = re.compile(r"moto server \(KMS, CloudWatch\) (http://127\.0\.0\.1:\d+)")


@dataclass
class BenchStack:
    """A running local stack and the loopback endpoints of its AWS stand-ins."""

    running: RunningStack
    dynamodb_url: str
    moto_url: str

    @property
    def base_url(self) -> str:
        return self.running.base_url

    def token(self, scopes: str = auth.ALL_SCOPES, **claims: Any) -> str:
        return self.running.token(scopes, **claims)

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.running.request(method, path, body, **kwargs)

    def client(self, service: str) -> Any:
        return loopback_client(
            service, self.dynamodb_url if service == "dynamodb" else self.moto_url
        )

    def handler_environment(self) -> dict[str, str]:
        """What the API handler reads, pointed at this stack's DynamoDB Local and moto server."""
        port = int(self.dynamodb_url.rsplit(":", 1)[1])
        moto_port = int(self.moto_url.rsplit(":", 1)[1])
        config = LocalConfig(self.running.data_dir, 0, port, moto_port)
        kms = self.client("kms")
        key_id = str(kms.describe_key(KeyId="alias/refund-service-audit")["KeyMetadata"]["KeyId"])
        return config.handler_environment(audit_key_id=key_id)


def loopback_client(service: str, endpoint: str, pool: int = 64) -> Any:
    import boto3
    from botocore.config import Config

    if not endpoint.startswith("http://127.0.0.1:"):
        raise ValueError(f"refusing a non-loopback endpoint: {endpoint}")
    config = Config(max_pool_connections=pool, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=config,
    )


def endpoints_from_log(log: Path) -> tuple[str, str]:
    text = log.read_text(errors="replace")
    dynamodb, moto = _DYNAMODB.search(text), _MOTO.search(text)
    if not dynamodb or not moto:
        raise RuntimeError(f"the stack's banner names no endpoints: {text[-1000:]}")
    return dynamodb.group(1), moto.group(1)


def wait_for_banner(log: Path, running: RunningStack, timeout: float = 30.0) -> tuple[str, str]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return endpoints_from_log(log)
        except RuntimeError:
            if time.monotonic() > deadline or running.process.poll() is not None:
                raise
            time.sleep(0.2)


# The change stream's poller is paused: in AWS the publisher runs on compute of its own, and
# here its verification of every changed transaction (two consistent Queries each) would take
# the two cores the request path and DynamoDB Local share, charged to the API in the load rows.
BENCH_STACK_SETTINGS = {"LOCAL_STREAM_SECONDS": "3600"}


@contextmanager
def bench_stack(data_dir: Path | None = None) -> Iterator[BenchStack]:
    """`python -m local run` on free loopback ports with fresh data; stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="refund-bench-") as scratch:
        root = data_dir or Path(scratch)
        log = root / "stack.log"
        running = start_stack(root, log, BENCH_STACK_SETTINGS)
        try:
            dynamodb_url, moto_url = wait_for_banner(log, running)
            yield BenchStack(running, dynamodb_url, moto_url)
        finally:
            stop_stack(running)


# The second DynamoDB Local holds the growth, change-work and search tables: hundreds of
# thousands of items, all in its memory. Telemetry off: nothing leaves loopback.
SECOND_DYNAMODB_JVM = ("-Xms1g", "-Xmx3g", "-XX:+UseParallelGC")


def fill_dynamodb_local() -> AbstractContextManager[str]:
    """A DynamoDB Local of the bench's own, in memory, with a heap sized for its fills;
    yields its loopback endpoint and stops it after."""
    return dynamodb_local(jvm=SECOND_DYNAMODB_JVM, options=("-disableTelemetry",))
