"""A small keep-alive HTTP client for loopback load, and latency statistics."""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


class Client:
    """One connection per client thread, reused across its requests (HTTP/1.1 keep-alive)."""

    def __init__(self, base_url: str, token: str, timeout: float = 60.0):
        parts = urlsplit(base_url)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"refusing a non-loopback target: {base_url}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.token = token
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        # Every connection that failed (reset, refused, closed mid-answer), retried or not.
        self.connection_errors = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def record_payment(
        self, transaction_id: str, amount: int, currency: str, tax_amount: int, fee_amount: int
    ) -> None:
        """A completed payment, recorded through POST /transactions; any refusal is an error."""
        body = {
            "transaction_id": transaction_id,
            "amount": amount,
            "currency": currency,
            "status": "completed",
            "tax_amount": tax_amount,
            "fee_amount": fee_amount,
        }
        status, _, answer = self.call("POST", "/transactions", body)
        if status != 201:
            raise RuntimeError(f"could not record {transaction_id}: {status} {answer}")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        all_headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {self.token}",
            **(headers or {}),
        }
        for attempt in (1, 2):  # a kept-alive connection the server closed is opened again
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=all_headers)
                response = conn.getresponse()
                payload = response.read()
            except (ConnectionError, http.client.HTTPException):
                self.connection_errors += 1
                self.close()
                if attempt == 2:
                    raise
                continue
            answer_headers = {k.lower(): v for k, v in response.getheaders()}
            if answer_headers.get("connection", "").lower() == "close":
                self.close()
            try:
                parsed = json.loads(payload) if payload else {}
            except ValueError:
                parsed = payload.decode(errors="replace")
            return response.status, answer_headers, parsed
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class LoadResult:
    clients: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    connection_errors: int = 0

    @property
    def done(self) -> int:
        return len(self.latencies_ms)

    @property
    def ok(self) -> int:
        return self.outcomes.get("ok", 0)

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 0.99)


# One unit of work: returns an outcome label ("ok" or what went wrong).
Work = Callable[[], str]


def run_clients(work: Sequence[Sequence[Work]], time_limit: float) -> LoadResult:
    """Each inner list runs in its own thread, in order; all start together; bounded in time."""
    result = LoadResult(clients=len(work))
    lock = threading.Lock()
    barrier = threading.Barrier(len(work) + 1)
    deadline = [0.0]

    def client(items: Sequence[Work]) -> None:
        barrier.wait()
        for item in items:
            if time.perf_counter() > deadline[0]:
                return
            started = time.perf_counter()
            try:
                outcome = item()
            except Exception as error:  # a failed request is a result, not a crash of the run
                outcome = f"error:{type(error).__name__}"
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                result.latencies_ms.append(elapsed)
                result.outcomes[outcome] += 1

    threads = [threading.Thread(target=client, args=(items,), daemon=True) for items in work]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + time_limit
    barrier.wait()
    for thread in threads:
        thread.join(timeout=time_limit + 120)
    result.seconds = time.perf_counter() - started
    return result
