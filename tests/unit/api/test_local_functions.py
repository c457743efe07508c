"""The local stack's function workers: one event at a time each, a failure answered as 500 and
a dead worker replaced."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.config import LocalConfig
from local.events import payload_v2_event
from local.functions import FunctionError, LocalFunctions, _Worker


@pytest.fixture(scope="module")
def functions() -> Iterator[LocalFunctions]:
    # The API's document needs no AWS call, so no stand-in has to run for these tests.
    running = LocalFunctions(LocalConfig.from_env().handler_environment(""), workers=2)
    yield running
    running.close()


def openapi_document(functions: LocalFunctions) -> dict[str, Any]:
    answer = functions.api(payload_v2_event("GET", "/openapi.json"))
    assert answer["statusCode"] == 200
    document: dict[str, Any] = json.loads(answer["body"])
    return document


def worker_pids(functions: LocalFunctions) -> list[int]:
    return [worker.process.pid or 0 for worker in functions._workers]


def test_an_event_is_answered_by_the_handler_in_a_worker(functions: LocalFunctions) -> None:
    assert "/refunds" in openapi_document(functions)["paths"]
    assert os.getpid() not in worker_pids(functions)


def test_concurrent_events_are_each_answered(functions: LocalFunctions) -> None:
    with ThreadPoolExecutor(6) as pool:
        documents = list(pool.map(lambda _: openapi_document(functions), range(12)))
    assert all("/refunds" in document["paths"] for document in documents)


def test_a_function_that_raises_is_reported(functions: LocalFunctions) -> None:
    with pytest.raises(FunctionError):
        functions.api("not an event")  # type: ignore[arg-type]
    assert "/refunds" in openapi_document(functions)["paths"]  # the worker serves on


def test_requests_one_after_another_stay_in_one_worker(
    functions: LocalFunctions, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[int] = []
    exchange = _Worker.exchange

    def recording(worker: _Worker, function: str, event: dict[str, Any]) -> tuple[bool, Any]:
        served.append(worker.process.pid or 0)
        return exchange(worker, function, event)

    monkeypatch.setattr(_Worker, "exchange", recording)
    for _ in range(4):
        openapi_document(functions)
    assert len(served) == 4
    assert len(set(served)) == 1  # in turn, they would have gone to both workers


def test_a_dead_worker_fails_its_request_and_is_replaced(functions: LocalFunctions) -> None:
    before = worker_pids(functions)
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(FunctionError):  # the worker handed the request had died
        functions.api(payload_v2_event("GET", "/openapi.json"))
    assert "/refunds" in openapi_document(functions)["paths"]  # its replacement answers
    after = worker_pids(functions)
    assert len(set(before) - set(after)) == 1
