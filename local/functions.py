"""The functions behind the local gateway, each in its own worker process.

Like Lambda, a worker handles one request at a time: Powertools' resolver keeps the current
request in process-wide state, so two requests must never share a process at once. The pool
runs several workers, so requests still meet concurrently in DynamoDB, as they do in AWS.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from local.lambda_context import LocalLambdaContext


def _start_worker(environment: dict[str, str]) -> None:
    os.environ.update(environment)
    from refund_service.handlers import api, webhooks  # noqa: F401, PLC0415 - warm the imports


def _invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
    from refund_service.handlers import api, webhooks  # noqa: PLC0415

    handler = api.handler if function == "api" else webhooks.handler
    result: dict[str, Any] = handler(event, LocalLambdaContext())
    return result


def _ready() -> bool:
    return True


class LocalFunctions:
    def __init__(self, environment: dict[str, str], workers: int):
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(environment,),
        )
        for pending in [self._pool.submit(_ready) for _ in range(workers)]:
            pending.result(timeout=120)

    def api(self, event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
        return self._pool.submit(_invoke, "api", event).result()

    def webhooks(self, event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
        return self._pool.submit(_invoke, "webhooks", event).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
