"""The published contract is complete: every field a live answer carries is in the OpenAPI
document (issue 13, part 5).

Real answers of every route, its refusals included, are walked against the document's schema
for their status: each object key must be a declared property, wherever it nests ($refs and
anyOf resolved), and the answer must validate against that schema (JSON Schema 2020-12).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from refund_service.adapters.kms_envelope import KmsEnvelopeEncryptor
from refund_service.api import refund_creation
from refund_service.api.auth import ROUTE_SCOPES, route_template
from refund_service.api.refund_creation import RefundCreator
from refund_service.api.runtime import ApiRuntime
from tests.support.openapi_contract import (
    RefundRequests,
    contract_problems,
    documented_schema,
    drive_every_route,
    undeclared,
)
from tests.support.world import MutableClock, make_world
from tests.unit.api.conftest import Answer, MotoAccount, sender


@dataclass
class Recorder(RefundRequests):
    """Sends requests through the real handler and keeps every answer it got."""

    runtime: ApiRuntime
    answers: list[tuple[str, str, int, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._send = sender(self.runtime)

    def call(self, method: str, path: str, body: Any = None, **options: Any) -> Answer:
        status, payload, headers = self._send(method, path, body, **options)
        self.answers.append((method, path, status, payload))
        return status, payload, headers


@pytest.fixture(scope="module")
def recorder(moto_account: MotoAccount) -> Iterator[Recorder]:
    """The API over a world that converts currencies, so FX fields appear too."""
    client = moto_account.dynamodb
    world = make_world(client, MutableClock(), suffix=f"-{uuid.uuid4().hex[:8]}", conversion=True)
    creator = RefundCreator(world.services, world.tables["Idempotency"], client)
    encryptor = KmsEnvelopeEncryptor(moto_account.kms, moto_account.key_id)
    try:
        yield Recorder(ApiRuntime(world.services, creator, encryptor))
    finally:
        for name in world.tables.values():
            client.delete_table(TableName=name)


def _explode(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("a bug")


@contextmanager
def _broken_refunds() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(refund_creation, "request_refund", _explode)
        yield


@pytest.fixture(scope="module")
def answers(recorder: Recorder) -> list[tuple[str, str, int, Any]]:
    drive_every_route(recorder, break_refunds=_broken_refunds)
    # The day's report, now that there are refunds on the clock's day
    day = recorder.runtime.services.clock().date().isoformat()
    recorder.call("GET", f"/reports/refunds?date={day}")
    return recorder.answers


def test_every_field_of_every_answer_is_in_the_document(
    answers: list[tuple[str, str, int, Any]],
) -> None:
    seen: set[str] = set()
    assert contract_problems(answers, seen) == []
    # the fields the document used to leave out were all in these answers, and are declared now
    assert {
        "$.summary.payment_status",
        "$.summary.captured_at",
        "$.summary.chargeback_amount",
        "$.summary.settlement_currency",
        "$.summary.fx_rate",
        "$.summary.fx_adjustment_amount",
        "$.summary.refund_count",
        "$.entries[].tax_amount",
        "$.entries[].fx",
        "$.metadata",
        "$.requested_amount",
        "$.requested_currency",
        "$.conversion",
        "$.records[].correlation_id",
        "$.records[].initiator.encrypted_fields",
        "$.repeated_refusals[].count",
        "$.refunds[].fx_adjustment_amount",
        "$.chargeback.resolved_at",
        "$.correlation_id",
        "$.processor_message",
    } <= seen


def test_every_route_was_answered_with_success_and_refusal(
    answers: list[tuple[str, str, int, Any]],
) -> None:
    statuses: dict[tuple[str, str | None], set[int]] = {}
    for method, path, status, _ in answers:
        statuses.setdefault((method, route_template(method, path.split("?")[0])), set()).add(status)
    assert set(statuses) == set(ROUTE_SCOPES)
    for route, seen in statuses.items():
        assert any(s < 300 for s in seen) and any(s >= 400 for s in seen), (route, seen)


def test_the_walk_finds_a_field_the_document_does_not_declare() -> None:
    _, schema = documented_schema("GET", "/transactions/t/ledger", 200)
    ledger = {"summary": {"transaction_id": "t", "secret": 1}, "entries": [{"fx": {"x": 1}}]}
    found = undeclared(ledger, schema, "$", set())
    assert found == ["$.summary.secret", "$.entries[].fx.x"]


def test_a_stored_processor_answer_with_a_key_this_version_does_not_know_still_reads() -> None:
    from refund_service.api.views import refund_view
    from refund_service.domain.processor import ProcessorCode, normalized
    from refund_service.domain.refund import Refund, RefundStatus

    stored = normalized(ProcessorCode.APPROVED, "stripe", reference="re_1").as_dict()
    refund = Refund(
        refund_id="t-1-REFUND-1",
        transaction_id="t-1",
        status=RefundStatus.SUCCESS,
        amount=500,
        currency="USD",
        tax_amount=0,
        fee_amount=0,
        reason="other",
        created_at="2026-11-28T12:00:00.000000Z",
        updated_at="2026-11-28T12:00:01.000000Z",
        initiator_id="user-1",
        processor={**stored, "network_reference": "added-by-a-later-version"},
    )

    processor = refund_view(refund).model_dump(mode="json")["processor"]

    assert processor["processor_reference"] == "re_1"
    assert "network_reference" not in processor
