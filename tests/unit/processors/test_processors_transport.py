"""The HTTP transport: how far a request got decides Unavailable vs Timeout; safe retries only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from refund_service.adapters.processors.stripe import should_retry as stripe_should_retry
from refund_service.adapters.processors.transport import (
    HttpTransport,
    RetryPolicy,
    _MaybeSentError,
    _NotSentError,
    bounded_key,
)
from refund_service.domain.processor import ProcessorTimeoutError, ProcessorUnavailableError
from tests.unit.processors.conftest import FAST, IMPATIENT
from tests.unit.processors.stub_server import Reply, StubProcessor, refused_url

KEYED = {"Idempotency-Key": "txn_1-REFUND"}


def transport(url: str, slept: list[float], policy: RetryPolicy = FAST) -> HttpTransport:
    return HttpTransport(url, policy, sleep=slept.append, jitter=lambda: 1.0)


def test_connection_refused_means_nothing_was_sent(slept: list[float]) -> None:
    # Given nothing listening on the port
    client = transport(refused_url(), slept)
    # When a keyed POST is attempted, Then it is retried and reported unavailable
    with pytest.raises(ProcessorUnavailableError, match="connect failed"):
        client.request("POST", "/v1/refunds", headers=KEYED, body=b"a=1")
    assert len(slept) == FAST.max_attempts - 1


def test_connect_timeout_means_nothing_was_sent(
    slept: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a connect that times out (no SYN-ACK)
    def no_answer(*args: object, **kwargs: object) -> socket.socket:
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", no_answer)
    client = transport("http://127.0.0.1:9", slept)
    with pytest.raises(ProcessorUnavailableError, match="TimeoutError"):
        client.request("POST", "/x", headers=KEYED, body=b"")


def test_read_timeout_after_sending_means_outcome_unknown(
    stub: StubProcessor, slept: list[float]
) -> None:
    # Given a processor that answers too late on every attempt
    stub.reply(*[Reply(200, {"ok": True}, delay=1.0)] * IMPATIENT.max_attempts)
    client = transport(stub.url, slept, IMPATIENT)
    # Then the refund's outcome is unknown
    with pytest.raises(ProcessorTimeoutError, match="outcome unknown"):
        client.request("POST", "/v1/refunds", headers=KEYED, body=b"a=1")
    # And every attempt carried the same idempotency key and body
    assert len(stub.requests) == IMPATIENT.max_attempts
    assert {r.header("Idempotency-Key") for r in stub.requests} == {"txn_1-REFUND"}
    assert {r.body for r in stub.requests} == {b"a=1"}


def test_dropped_connection_after_sending_means_outcome_unknown(
    stub: StubProcessor, slept: list[float]
) -> None:
    stub.reply(*[Reply(drop=True)] * FAST.max_attempts)
    with pytest.raises(ProcessorTimeoutError):
        transport(stub.url, slept).request("POST", "/x", headers=KEYED, body=b"")


def test_a_lost_answer_then_a_definite_one_returns_the_definite_one(
    stub: StubProcessor, slept: list[float]
) -> None:
    stub.reply(Reply(200, {}, delay=1.0), Reply(200, {"id": "re_1"}))
    response = transport(stub.url, slept, IMPATIENT).request("POST", "/x", headers=KEYED, body=b"")
    assert response.status == 200
    assert response.json() == {"id": "re_1"}


def test_server_error_then_success_is_retried_with_the_same_key(
    stub: StubProcessor, slept: list[float]
) -> None:
    stub.reply(Reply(500, {"error": {}}), Reply(503, {}), Reply(200, {"id": "re_1"}))
    response = transport(stub.url, slept).request("POST", "/x", headers=KEYED, body=b"a=1")
    assert response.status == 200
    assert [r.header("Idempotency-Key") for r in stub.requests] == ["txn_1-REFUND"] * 3
    assert slept == [0.01, 0.02]  # exponential backoff, capped


def test_server_errors_on_every_attempt_leave_the_outcome_unknown(
    stub: StubProcessor, slept: list[float]
) -> None:
    # A 5xx may follow a partial execution: never report "nothing was sent" after one
    stub.reply(*[Reply(500, {})] * FAST.max_attempts)
    with pytest.raises(ProcessorTimeoutError, match="HTTP 500"):
        transport(stub.url, slept).request("POST", "/x", headers=KEYED, body=b"")


def test_rate_limited_on_every_attempt_returns_the_429(
    stub: StubProcessor, slept: list[float]
) -> None:
    stub.reply(*[Reply(429, {}, headers={"Retry-After": "1"})] * FAST.max_attempts)
    response = transport(stub.url, slept).request("POST", "/x", headers=KEYED, body=b"")
    assert response.status == 429
    assert slept == [FAST.max_backoff_seconds] * 2  # Retry-After, capped


def test_rate_limited_after_a_lost_answer_is_still_unknown(
    stub: StubProcessor, slept: list[float]
) -> None:
    # The first attempt may have been applied; a later 429 does not undo that
    stub.reply(Reply(drop=True), Reply(429, {}), Reply(429, {}))
    with pytest.raises(ProcessorTimeoutError):
        transport(stub.url, slept).request("POST", "/x", headers=KEYED, body=b"")


def test_a_post_without_idempotency_key_is_never_resent(
    stub: StubProcessor, slept: list[float]
) -> None:
    stub.reply(Reply(500, {}), Reply(200, {}))
    with pytest.raises(ProcessorTimeoutError):
        transport(stub.url, slept).request("POST", "/x", headers={}, body=b"")
    assert len(stub.requests) == 1


def test_client_errors_are_final(stub: StubProcessor, slept: list[float]) -> None:
    stub.reply(Reply(400, {"error": {}}), Reply(200, {}))
    response = transport(stub.url, slept).request("POST", "/x", headers=KEYED, body=b"")
    assert response.status == 400
    assert len(stub.requests) == 1


def test_no_retry_is_started_past_the_deadline(stub: StubProcessor, slept: list[float]) -> None:
    tight = RetryPolicy(
        max_attempts=5,
        connect_timeout=0.5,
        read_timeout=0.3,
        backoff_seconds=0.01,
        deadline_seconds=0.5,
    )
    stub.reply(*[Reply(503, {})] * 5)
    with pytest.raises(ProcessorTimeoutError):
        transport(stub.url, slept, tight).request("POST", "/x", headers=KEYED, body=b"")
    assert len(stub.requests) == 1


def test_base_url_path_prefixes_every_request(stub: StubProcessor, slept: list[float]) -> None:
    stub.reply(Reply(200, {}))
    transport(stub.url + "/v71/", slept).request("GET", "/payments/x", headers={})
    assert stub.requests[0].path == "/v71/payments/x"


@pytest.mark.parametrize("url", ["ftp://host", "api.stripe.com", "https://"])
def test_base_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError):
        HttpTransport(url)


def test_long_refund_ids_become_stable_bounded_keys() -> None:
    long_id = "t" * 70 + "-REFUND-2"
    key = bounded_key(long_id, 64)
    assert len(key) == 64
    assert key == bounded_key(long_id, 64)
    assert key != bounded_key("u" + long_id[1:], 64)
    assert bounded_key("txn_1-REFUND", 64) == "txn_1-REFUND"


def test_a_failed_tls_handshake_means_nothing_was_sent(
    stub: StubProcessor, slept: list[float]
) -> None:
    # Given a server that does not speak TLS: the handshake inside connect() fails
    client = transport(stub.url.replace("http://", "https://"), slept)
    with pytest.raises(ProcessorUnavailableError, match="connect failed"):
        client.request("POST", "/x", headers=KEYED, body=b"")


def test_the_adapters_load_no_sdk_and_no_aws_client_at_import() -> None:
    # Cold starts pay only for the standard library (docs/decisions/0010)
    code = (
        "import sys, refund_service.adapters.processors.factory; "
        "heavy = {'boto3', 'botocore', 'aws_lambda_powertools', 'requests', 'stripe', 'Adyen'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- Once maybe sent, never "nothing happened" ----------------------------------------------


def stripe_like(url: str, slept: list[float], policy: RetryPolicy = FAST) -> HttpTransport:
    """Retries decided by Stripe's own advice header, as the Stripe adapter does."""
    return HttpTransport(
        url, policy, should_retry=stripe_should_retry, sleep=slept.append, jitter=lambda: 1.0
    )


NO_RETRY = {"Stripe-Should-Retry": "false"}


@pytest.mark.parametrize(
    "first",
    [Reply(drop=True), Reply(500, {}), Reply(409, {}), Reply(200, {}, delay=1.0)],
    ids=["dropped", "5xx", "409", "read-timeout"],
)
def test_a_final_429_after_a_maybe_sent_attempt_is_still_unknown(
    stub: StubProcessor, slept: list[float], first: Reply
) -> None:
    # Given a first attempt that may have been applied, then a 429 Stripe says not to retry
    stub.reply(first, Reply(429, {"error": {"type": "rate_limit_error"}}, headers=NO_RETRY))
    client = stripe_like(stub.url, slept, IMPATIENT)
    # Then the outcome stays unknown, never a definite "rate limited"
    with pytest.raises(ProcessorTimeoutError, match="outcome unknown"):
        client.request("POST", "/v1/refunds", headers=KEYED, body=b"a=1")
    assert len(stub.requests) == 2


def test_a_final_429_on_the_first_attempt_is_rate_limited(
    stub: StubProcessor, slept: list[float]
) -> None:
    stub.reply(Reply(429, {}, headers=NO_RETRY))
    response = stripe_like(stub.url, slept).request("POST", "/x", headers=KEYED, body=b"")
    assert response.status == 429
    assert len(stub.requests) == 1


def test_unreachable_after_a_maybe_sent_attempt_is_still_unknown(
    slept: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an attempt whose answer is lost, then a processor that cannot be reached at all
    outcomes = iter([_MaybeSentError("read timed out")])

    def attempt(*args: object) -> object:
        raise next(outcomes, _NotSentError("connect failed: ConnectionRefusedError"))

    client = transport("http://127.0.0.1:9", slept)
    monkeypatch.setattr(client, "_attempt", attempt)
    with pytest.raises(ProcessorTimeoutError, match="outcome unknown"):
        client.request("POST", "/x", headers=KEYED, body=b"")


@pytest.mark.parametrize("status", [401, 403])
def test_an_authentication_refusal_after_a_lost_answer_is_still_unknown(
    stub: StubProcessor, slept: list[float], status: int
) -> None:
    # Authentication runs before the processor looks the key up: nothing is replayed
    stub.reply(Reply(drop=True), Reply(status, {"error": {"type": "authentication_error"}}))
    with pytest.raises(ProcessorTimeoutError, match=f"HTTP {status}"):
        stripe_like(stub.url, slept).request("POST", "/x", headers=KEYED, body=b"")


@pytest.mark.parametrize("status", [400, 402, 404])
def test_a_keyed_client_error_after_a_lost_answer_is_definite(
    stub: StubProcessor, slept: list[float], status: int
) -> None:
    # The processor replays the first request's saved result for the same key
    stub.reply(Reply(drop=True), Reply(status, {"error": {"type": "invalid_request_error"}}))
    response = stripe_like(stub.url, slept).request("POST", "/x", headers=KEYED, body=b"")
    assert response.status == status


# --- The send deadline ------------------------------------------------------------------------

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
WORST_ATTEMPT = timedelta(seconds=FAST.connect_timeout + FAST.read_timeout)


def deadline_transport(url: str, slept: list[float], now: datetime = NOW) -> HttpTransport:
    return HttpTransport(url, FAST, sleep=slept.append, jitter=lambda: 1.0, wall_clock=lambda: now)


def test_no_first_attempt_when_it_could_end_after_the_send_deadline(
    stub: StubProcessor, slept: list[float]
) -> None:
    client = deadline_transport(stub.url, slept)
    with pytest.raises(ProcessorUnavailableError, match="send deadline"):
        client.request("POST", "/x", headers=KEYED, body=b"", send_by=NOW + WORST_ATTEMPT)
    assert stub.requests == []


def test_an_attempt_that_surely_ends_before_the_deadline_is_sent(
    stub: StubProcessor, slept: list[float]
) -> None:
    stub.reply(Reply(200, {"id": "re_1"}))
    client = deadline_transport(stub.url, slept)
    send_by = NOW + WORST_ATTEMPT + timedelta(milliseconds=1)
    assert client.request("POST", "/x", headers=KEYED, body=b"", send_by=send_by).ok


def test_no_retry_after_a_maybe_sent_attempt_past_the_deadline(
    stub: StubProcessor, slept: list[float]
) -> None:
    # Room for the first attempt, not for a second one after its backoff
    stub.reply(Reply(500, {}), Reply(200, {}))
    client = deadline_transport(stub.url, slept)
    send_by = NOW + WORST_ATTEMPT + timedelta(milliseconds=5)
    with pytest.raises(ProcessorTimeoutError, match="HTTP 500"):
        client.request("POST", "/x", headers=KEYED, body=b"", send_by=send_by)
    assert len(stub.requests) == 1


def test_no_retry_past_the_deadline_after_nothing_was_sent(slept: list[float]) -> None:
    client = deadline_transport(refused_url(), slept)
    send_by = NOW + WORST_ATTEMPT + timedelta(milliseconds=5)
    with pytest.raises(ProcessorUnavailableError, match="connect failed"):
        client.request("POST", "/x", headers=KEYED, body=b"", send_by=send_by)
    assert slept == []


def test_the_deadline_is_checked_again_when_the_retry_starts(
    stub: StubProcessor, slept: list[float]
) -> None:
    # The clock moves on while waiting: the retry planned in time no longer is
    moments = iter([NOW, NOW, NOW + timedelta(seconds=5)])
    stub.reply(Reply(503, {}), Reply(200, {}))
    client = HttpTransport(
        stub.url, FAST, sleep=slept.append, jitter=lambda: 1.0, wall_clock=lambda: next(moments)
    )
    with pytest.raises(ProcessorTimeoutError):
        client.request("POST", "/x", headers=KEYED, body=b"", send_by=NOW + timedelta(seconds=2))
    assert len(stub.requests) == 1
    assert len(slept) == 1
