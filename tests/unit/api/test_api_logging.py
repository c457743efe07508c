"""What the API logs: one line per request, and never the caller's e-mail or token."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from refund_service.observability import logger
from refund_service.service import queries
from tests.support.events import ALL_SCOPES, claims_for
from tests.unit.api.conftest import Api, new_key

EMAIL = "jane.doe+refunds@example.com"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLW5vdC1mb3ItbG9ncw"
SOURCE_IP = "203.0.113.9"  # what the test events give as the caller's address
ANY_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


class _CurrentStdout:
    """Writes to whatever sys.stdout is at the moment: the captured stream during a test."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The logger writes to the stream it was given at import; point it at the captured one."""
    monkeypatch.setattr(logger.registered_handler, "stream", _CurrentStdout())
    return capsys


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    route: str
    body: Any = None
    scopes: str | None = None  # a narrower token than the default one
    anonymous: bool = False


def requests_for(tid: str) -> list[Request]:
    """Requests that succeed, are refused, are invalid, are unauthorized, and fail."""
    refund = {"transaction_id": tid, "amount": 1_000, "reason": "other"}
    payment = {
        "transaction_id": "txn-log-1",
        "amount": 500,
        "currency": "EUR",
        "status": "completed",
    }
    ledger, audit = f"/transactions/{tid}/ledger", f"/transactions/{tid}/audit"
    return [
        Request("POST", "/transactions", "POST /transactions", payment),
        Request("POST", "/refunds", "POST /refunds", refund),
        Request(
            "POST", "/refunds", "POST /refunds", {**refund, "metadata": {"simulate": "decline"}}
        ),
        Request("POST", "/refunds", "POST /refunds", {**refund, "contact": EMAIL}),
        Request("GET", f"/refunds/{tid}-REFUND", "GET /refunds/{refund_id}"),
        Request("GET", ledger, "GET /transactions/{transaction_id}/ledger"),
        Request("GET", audit, "GET /transactions/{transaction_id}/audit"),
        Request(
            "POST",
            f"/refunds/{tid}-REFUND/rollback",
            "POST /refunds/{refund_id}/rollback",
            {"reason": "entered in error"},
            scopes="refunds:write",
        ),
        Request("GET", ledger, "GET /transactions/{transaction_id}/ledger", anonymous=True),
        Request("GET", "/refunds/boom-REFUND", "GET /refunds/{refund_id}"),
    ]


EXPECTED_STATUSES = [201, 200, 422, 400, 200, 200, 200, 403, 401, 500]


def test_no_log_line_holds_the_callers_email_or_token_and_each_request_logs_one_line(
    api: Api, logs: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a caller whose token carries an e-mail, and who sends the token itself along
    tid = api.pay(10_000)
    requests = requests_for(tid)
    monkeypatch.setattr(queries, "get_refund", _fail_for("boom-REFUND", queries.get_refund))
    logs.readouterr()
    # When it makes requests that succeed, are refused, are invalid, and fail
    answers = []
    for request in requests:
        claims = (
            None if request.anonymous else claims_for(request.scopes or ALL_SCOPES, email=EMAIL)
        )
        status, _, headers = api.call(
            request.method,
            request.path,
            request.body,
            claims=claims,
            anonymous=request.anonymous,
            headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": new_key()},
        )
        answers.append((status, headers["X-Correlation-Id"]))
    assert [status for status, _ in answers] == EXPECTED_STATUSES
    captured = logs.readouterr()
    text = captured.out + captured.err
    # Then no line holds an e-mail address or the token, or any part of it
    assert not ANY_EMAIL.search(text), ANY_EMAIL.findall(text)
    for part in (TOKEN, *TOKEN.split(".")):
        assert part not in text
    # Nor the caller's address
    assert SOURCE_IP not in text
    # And each request wrote exactly one "request handled" line with its outcome
    lines = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    handled = [line for line in lines if line["message"] == "request handled"]
    assert len(handled) == len(requests)
    for line, request, (status, correlation_id) in zip(handled, requests, answers, strict=True):
        assert line["route"] == request.route
        assert line["status"] == status
        assert isinstance(line["latency_ms"], int | float)
        assert line["latency_ms"] >= 0
        assert line["correlation_id"] == correlation_id


def _fail_for(refund_id: str, real: Any) -> Any:
    def get_refund(store: Any, wanted: str) -> Any:
        if wanted == refund_id:
            raise RuntimeError("unexpected")
        return real(store, wanted)

    return get_refund
