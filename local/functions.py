"""The functions behind the local gateway, each in its own worker process.

Like Lambda, a worker handles one request at a time: Powertools' resolver keeps the current
request in process-wide state, so two requests must never share a process at once. Several
workers run side by side, so requests still meet concurrently in DynamoDB, as they do in AWS.

Each worker has a pipe of its own, and the gateway's request thread uses it directly: an event
goes out and its answer comes back with no thread in between. (A process pool's queue and
result threads added two hand-offs per request, each waiting for the gateway's GIL.)

The idle worker used last is handed the next event, so requests one after another stay in one
warm process and more workers join only as requests overlap, as Lambda scales out. Taken in
turn, one client's requests went to every worker: each paid its own first refund (clients, a
KMS data key), and each request met the process that had been idle longest.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from local.lambda_context import LocalLambdaContext

READY = "ready"
START_SECONDS = 120


class FunctionError(Exception):
    """The function raised, or its worker died: the gateway answers 500, as API Gateway does."""


def _serve(connection: Connection, environment: dict[str, str]) -> None:
    """A worker's life: import the handlers once, then answer one event at a time."""
    os.environ.update(environment)
    from refund_service.handlers import api, webhooks  # noqa: PLC0415

    handlers = {"api": api.handler, "webhooks": webhooks.handler}
    connection.send(READY)
    try:
        while True:
            function, event = connection.recv()
            try:
                answer = (True, handlers[function](event, LocalLambdaContext()))
            except Exception as error:  # reported to the gateway, which answers 500
                answer = (False, f"{type(error).__name__}: {error}")
            connection.send(answer)
    except (EOFError, OSError, KeyboardInterrupt):  # the stack closed the pipe, or Ctrl-C
        return


class _Worker:
    def __init__(self, environment: dict[str, str]):
        context = multiprocessing.get_context("spawn")
        self.connection, remote = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(remote, environment), name="local-function", daemon=True
        )
        self.process.start()
        remote.close()

    def wait_ready(self) -> None:
        if not self.connection.poll(START_SECONDS) or self.connection.recv() != READY:
            raise RuntimeError("a local function worker did not start")

    def exchange(self, function: str, event: dict[str, Any]) -> tuple[bool, Any]:
        """The event sent, and (True, the function's answer) or (False, why it raised)."""
        self.connection.send((function, event))
        answer: tuple[bool, Any] = self.connection.recv()
        return answer

    def stop(self) -> None:
        self.connection.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()


class LocalFunctions:
    def __init__(self, environment: dict[str, str], workers: int):
        self._environment = environment
        self._workers = [_Worker(environment) for _ in range(workers)]
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()  # the warmest on top
        for worker in self._workers:
            worker.wait_ready()
            self._idle.put(worker)

    def api(self, event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
        return self._invoke("api", event)

    def webhooks(self, event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
        return self._invoke("webhooks", event)

    def _invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        worker = self._idle.get()  # waits while every worker is busy, as the pool queued
        try:
            succeeded, result = worker.exchange(function, event)
        except Exception as error:  # the worker died, or its pipe may hold an unread answer
            self._idle.put(self._replace(worker))
            raise FunctionError(f"the function's worker stopped: {error!r}") from None
        self._idle.put(worker)
        if not succeeded:
            raise FunctionError(result)
        answer: dict[str, Any] = result
        return answer

    def _replace(self, dead: _Worker) -> _Worker:
        dead.stop()
        fresh = _Worker(self._environment)
        fresh.wait_ready()
        self._workers[self._workers.index(dead)] = fresh
        return fresh

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
