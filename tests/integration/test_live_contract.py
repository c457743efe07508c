"""Every field of every answer the live local stack gives is in its OpenAPI document.

The same requests as the in-process contract test (tests/unit/api/test_api_contract.py), sent
over HTTP to `python -m local run` with currency conversion on, so the answers come through
the local gateway, the real handlers, DynamoDB Local and the simulated processor.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from refund_service.api.auth import ROUTE_SCOPES, route_template
from tests.integration.conftest import RunningStack, start_stack, stop_stack
from tests.support.openapi_contract import (
    DOCUMENT,
    RefundRequests,
    contract_problems,
    drive_every_route,
)


@dataclass
class LiveRecorder(RefundRequests):
    """Sends requests to the running stack and keeps every answer it got."""

    stack: RunningStack
    answers: list[tuple[str, str, int, Any]] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        scopes: str | None = None,
        anonymous: bool = False,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        token = None if anonymous else self.stack.token(*([scopes] if scopes else []))
        raw = body.encode() if isinstance(body, str) else None
        status, answer_headers, payload = self.stack.request(
            method, path, None if raw else body, token=token, headers=headers, raw=raw
        )
        self.answers.append((method, path, status, payload))
        return status, payload, answer_headers


@pytest.fixture(scope="module")
def converting_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp("live-contract")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CURRENCY_CONVERSION", "true")
        running = start_stack(data_dir, data_dir / "stack.log")
    yield running
    stop_stack(running)


@pytest.fixture(scope="module")
def answers(converting_stack: RunningStack) -> list[tuple[str, str, int, Any]]:
    recorder = LiveRecorder(converting_stack)
    drive_every_route(recorder)
    recorder.call("GET", "/reports/refunds?date=" + _today(recorder))
    return recorder.answers


def _today(recorder: LiveRecorder) -> str:
    created = next(
        body["created_at"]
        for method, _, status, body in recorder.answers
        if method == "GET" and status == 200 and isinstance(body, dict) and "created_at" in body
    )
    return str(created)[:10]


def test_the_live_stack_serves_the_document_it_publishes(converting_stack: RunningStack) -> None:
    status, _, served = converting_stack.request("GET", "/openapi.json")
    assert status == 200
    assert json.loads(json.dumps(served)) == DOCUMENT


def test_every_field_of_every_live_answer_is_in_the_document(
    answers: list[tuple[str, str, int, Any]],
) -> None:
    seen: set[str] = set()
    assert contract_problems(answers, seen) == []
    # answers that carry the fields the document once left out did reach the live stack
    assert {
        "$.summary.payment_status",
        "$.summary.settlement_currency",
        "$.entries[].fx",
        "$.metadata",
        "$.conversion",
        "$.records[].correlation_id",
        "$.records[].initiator.encrypted_fields",
    } <= seen


def test_every_route_answered_over_http(answers: list[tuple[str, str, int, Any]]) -> None:
    routes = {(m, route_template(m, p.split("?")[0])) for m, p, _, _ in answers}
    assert routes == set(ROUTE_SCOPES)
    assert os.environ.get("CURRENCY_CONVERSION") != "true"  # the stack's setting did not leak
