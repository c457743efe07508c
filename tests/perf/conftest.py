"""One local stack for the whole performance smoke suite (started once, stopped after)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bench.stack import BenchStack, bench_stack


@pytest.fixture(scope="package")
def perf_stack() -> Iterator[BenchStack]:
    with bench_stack() as stack:
        yield stack
