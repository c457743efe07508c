"""HTTPS exchanges with a processor: per-attempt timeouts, bounded retries, honest failures.

A failed exchange is classified by how far the request got, because that decides whether the
refund may be released or must wait for reconciliation:

- nothing reached the processor (DNS failure, connection refused, connect or TLS timeout):
  `ProcessorUnavailableError`;
- the request may have reached it (failure while sending, read timeout, connection dropped
  before the answer, or a 5xx / 409 answer on some attempt): `ProcessorTimeoutError`.

Once any attempt may have reached the processor, that stays true: a later attempt that is rate
limited, refused at authentication, cannot connect or is not started at all proves nothing about
the earlier one, so the exchange ends as `ProcessorTimeoutError` unless a later attempt gets a
definite answer (2xx, or a 4xx other than 401, 403, 409 and 429: processors replay the saved
first result for the same key).

A request may carry a send deadline (`send_by`): no attempt starts unless its connect and read
timeouts run out before that moment, so nothing can reach the processor after it.

Each attempt opens a fresh connection, so "connected" and "sent" are never confused with a
stale keep-alive socket. A POST that may have been sent is resent only when it carries an
`Idempotency-Key` header, so a retry can never make the processor act twice. See
docs/decisions/0010-processor-http-client.md.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from refund_service.domain.processor import ProcessorTimeoutError, ProcessorUnavailableError

IDEMPOTENCY_HEADER = "Idempotency-Key"
RATE_LIMITED = 429
_USER_AGENT = "refund-service/1"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_attempts` tries, within `deadline_seconds` of the first."""

    max_attempts: int = 3
    connect_timeout: float = 2.0
    read_timeout: float = 8.0
    backoff_seconds: float = 0.25  # doubled per retry, with jitter
    max_backoff_seconds: float = 2.0
    deadline_seconds: float = 20.0

    def delay(self, retry: int, retry_after: str | None, jitter: float) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        seconds = (retry_after or "").strip()
        if seconds.isascii() and seconds.isdigit():  # the HTTP-date form falls back to backoff
            return min(float(seconds), self.max_backoff_seconds)
        growth: int = 2 ** (retry - 1)
        backoff = min(self.backoff_seconds * growth, self.max_backoff_seconds)
        return backoff * (0.5 + jitter / 2)


def retry_on_status(response: HttpResponse) -> bool:
    """Default: rate limiting and server errors are worth another try with the same key."""
    return response.status == RATE_LIMITED or response.status >= 500


def indeterminate(response: HttpResponse) -> bool:
    """A 5xx or a 409 (same key still in flight) may follow a partial execution."""
    return response.status >= 500 or response.status == 409


def utc_now() -> datetime:
    return datetime.now(UTC)


def bounded_key(refund_id: str, max_length: int) -> str:
    """The refund id as an idempotency key, or a stable digest of it when it is too long."""
    if len(refund_id) <= max_length:
        return refund_id
    digest = hashlib.sha256(refund_id.encode()).hexdigest()
    return ("sha256-" + digest)[:max_length]


class _NotSentError(Exception):
    """The attempt failed before any byte of the request left."""


class _MaybeSentError(Exception):
    """The attempt failed after the request may have reached the processor."""


@dataclass
class _Progress:
    reached: bool = False  # some attempt may have reached the processor
    failure: str = ""


class HttpTransport:
    """One processor's base URL; `request` runs the retry loop around single attempts."""

    def __init__(
        self,
        base_url: str,
        policy: RetryPolicy | None = None,
        *,
        should_retry: Callable[[HttpResponse], bool] = retry_on_status,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        wall_clock: Callable[[], datetime] = utc_now,
    ):
        parts = urlsplit(base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"processor base URL must be http(s)://host[:port], got {base_url!r}")
        # One TLS context per transport: loading the CA bundle is the costly part.
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self.policy = policy or RetryPolicy()
        self._should_retry = should_retry
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._wall_clock = wall_clock

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        send_by: datetime | None = None,
    ) -> HttpResponse:
        """The processor's answer, or an exception saying how far the request got.

        A definite answer (2xx, 4xx) is returned. An indeterminate one (5xx, 409) that is not
        retried, or retried without success, raises ProcessorTimeoutError, as does any attempt
        that may have been applied without a definite answer after it. Only 429 on every
        attempt is returned as it is: rate limiting happens before anything is applied.
        ProcessorUnavailableError when no attempt could start before `send_by`.
        """
        keyed = any(name.lower() == IDEMPOTENCY_HEADER.lower() for name in headers)
        replay_safe = method == "GET" or keyed
        started = self._clock()
        progress = _Progress()
        response: HttpResponse | None = None
        for attempt in range(1, self.policy.max_attempts + 1):
            if not self._ends_before(send_by, 0.0):
                if attempt == 1:
                    raise ProcessorUnavailableError("send deadline too close: nothing was sent")
                break
            response = self._try_once(method, path, headers, body, progress, replay_safe)
            if response is not None and not self._should_retry(response):
                if indeterminate(response) or _silent_on_earlier_attempts(response, progress):
                    break  # not worth another try, and the outcome is unknown
                return response
            if not self._may_retry(attempt, started, response, replay_safe, progress, send_by):
                break
        return self._exhausted(response, progress)

    def _ends_before(self, send_by: datetime | None, delay: float) -> bool:
        """Whether an attempt started after `delay` seconds surely ends before `send_by`."""
        if send_by is None:
            return True
        if send_by.tzinfo is None:
            send_by = send_by.replace(tzinfo=UTC)
        worst = delay + self.policy.connect_timeout + self.policy.read_timeout
        return self._wall_clock() + timedelta(seconds=worst) < send_by

    def _try_once(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
        progress: _Progress,
        replay_safe: bool,
    ) -> HttpResponse | None:
        try:
            response = self._attempt(method, path, headers, body)
        except _NotSentError as failure:
            progress.failure = str(failure)
            return None
        except _MaybeSentError as failure:
            progress.reached = True
            progress.failure = str(failure)
            if not replay_safe:
                raise ProcessorTimeoutError(
                    f"{failure}; not resent without an idempotency key"
                ) from None
            return None
        if indeterminate(response):
            progress.reached = True
        progress.failure = f"HTTP {response.status}"
        return response

    def _may_retry(
        self,
        attempt: int,
        started: float,
        response: HttpResponse | None,
        replay_safe: bool,
        progress: _Progress,
        send_by: datetime | None,
    ) -> bool:
        if attempt >= self.policy.max_attempts:
            return False
        if progress.reached and not replay_safe:
            return False
        retry_after = response.headers.get("retry-after") if response is not None else None
        delay = self.policy.delay(attempt, retry_after, self._jitter())
        worst_next = delay + self.policy.connect_timeout + self.policy.read_timeout
        if self._clock() - started + worst_next > self.policy.deadline_seconds:
            return False
        if not self._ends_before(send_by, delay):
            return False
        self._sleep(delay)
        return True

    @staticmethod
    def _exhausted(response: HttpResponse | None, progress: _Progress) -> HttpResponse:
        if progress.reached:
            raise ProcessorTimeoutError(
                f"no definite answer from the processor ({progress.failure}); outcome unknown"
            )
        if response is not None:
            return response  # rate limited on every attempt: nothing was applied
        raise ProcessorUnavailableError(f"processor not reachable ({progress.failure})")

    def _connection(self) -> http.client.HTTPConnection:
        timeout = self.policy.connect_timeout
        if self._tls is not None:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=self._tls
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _attempt(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> HttpResponse:
        connection = self._connection()
        try:
            try:
                connection.connect()  # TCP and, for https, the TLS handshake
            except OSError as error:
                raise _NotSentError(f"connect failed: {_describe(error)}") from error
            if connection.sock is not None:
                connection.sock.settimeout(self.policy.read_timeout)
            try:
                connection.request(
                    method,
                    self._prefix + path,
                    body=body,
                    headers={"User-Agent": _USER_AGENT, **headers},
                )
                answer = connection.getresponse()
                payload = answer.read()
            except (OSError, http.client.HTTPException) as error:
                raise _MaybeSentError(f"request sent, no answer: {_describe(error)}") from error
            lowered = {name.lower(): value for name, value in answer.getheaders()}
            return HttpResponse(answer.status, lowered, payload)
        finally:
            connection.close()


# Answered before the processor's idempotency layer: about this attempt only.
_REFUSED_BEFORE_REPLAY = frozenset({401, 403, RATE_LIMITED})


def _silent_on_earlier_attempts(response: HttpResponse, progress: _Progress) -> bool:
    """Rate limiting or an authentication refusal says only that this attempt was not
    applied; after an attempt that may have been, the outcome stays unknown."""
    return progress.reached and response.status in _REFUSED_BEFORE_REPLAY


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
