"""An unexpected error answers 500 INTERNAL_ERROR: a correlation id, never a stack trace."""

from __future__ import annotations

import json
from typing import Any

import pytest

from refund_service.api import refund_creation
from refund_service.service import queries
from tests.unit.api.conftest import Api, new_key

SECRET = "sqlite3.OperationalError near line 42 in /srv/internal/ledger.py"


def explode(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError(SECRET)


def assert_internal_error(status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    assert (status, body["error_code"], body["status"]) == (500, "INTERNAL_ERROR", "failed")
    correlation_id = headers["X-Correlation-Id"]
    assert correlation_id
    assert body["correlation_id"] == correlation_id
    assert body["details"]["correlation_id"] == correlation_id
    text = json.dumps(body)
    for leak in (SECRET, "RuntimeError", "Traceback", ".py"):
        assert leak not in text


def test_a_failing_read_is_500_with_a_correlation_id_and_no_trace(
    module_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "get_ledger_page", explode)
    assert_internal_error(*module_api.call("GET", "/transactions/any/ledger"))


def test_the_caller_correlation_id_is_kept(
    module_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "get_refund", explode)
    status, body, headers = module_api.call(
        "GET", "/refunds/any-REFUND", headers={"X-Correlation-Id": "support-ticket-77"}
    )
    assert_internal_error(status, body, headers)
    assert body["correlation_id"] == "support-ticket-77"


def test_a_failing_refund_is_500_and_its_key_is_not_used_up(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a refund workflow that fails unexpectedly
    tid = api.pay(10_000)
    key = new_key()
    with monkeypatch.context() as patch:
        patch.setattr(refund_creation, "request_refund", explode)
        # When a refund is asked for
        answer = api.refund(tid, 1_000, key=key)
    # Then the caller gets 500 INTERNAL_ERROR
    assert_internal_error(*answer)
    # And, once the bug is gone, the same request runs instead of replaying the 500
    status, body, headers = api.refund(tid, 1_000, key=key)
    assert (status, body["status"]) == (200, "success")
    assert "Idempotent-Replayed" not in headers
