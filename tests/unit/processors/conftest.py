"""Fixtures for the processor adapters: a local stub processor and fast retry settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from refund_service.adapters.processors.transport import RetryPolicy
from tests.unit.processors.stub_server import StubProcessor

# Short timeouts keep the suite fast; three attempts as in production.
FAST = RetryPolicy(
    max_attempts=3,
    connect_timeout=0.5,
    read_timeout=0.3,
    backoff_seconds=0.01,
    max_backoff_seconds=0.02,
    deadline_seconds=5.0,
)
# For read timeouts: the stub answers after a second, the client gives up after 0.1 s.
IMPATIENT = RetryPolicy(read_timeout=0.1, backoff_seconds=0.01, deadline_seconds=5.0)


@pytest.fixture
def stub() -> Iterator[StubProcessor]:
    server = StubProcessor()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slept() -> list[float]:
    """Backoff delays the transport asked for, instead of sleeping."""
    return []
