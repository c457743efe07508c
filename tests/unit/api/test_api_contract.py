"""The published contract is complete: every field a live answer carries is in the OpenAPI
document (issue 13, part 5).

Real answers of every route, its refusals included, are walked against the document's schema
for their status: each object key must be a declared property, wherever it nests ($refs and
anyOf resolved), and the answer must validate against that schema (JSON Schema 2020-12).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from refund_service.adapters.kms_envelope import KmsEnvelopeEncryptor
from refund_service.api import refund_creation
from refund_service.api.auth import ROUTE_SCOPES, route_template
from refund_service.api.openapi_document import render
from refund_service.api.refund_creation import RefundCreator
from refund_service.api.runtime import ApiRuntime
from tests.support.world import MutableClock, make_world
from tests.unit.api.conftest import Answer, MotoAccount, new_key, sender

DOCUMENT: dict[str, Any] = json.loads(render())
JSON = "application/json"


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = DOCUMENT["components"]["schemas"][name]
    return schema


JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def _branches(schema: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    """The anyOf/oneOf alternatives that could describe a value of this JSON type."""
    kind = JSON_TYPES.get(type(value), "number")
    alternatives = [resolve(s) for s in schema.get("anyOf", schema.get("oneOf", []))]
    return [s for s in alternatives if s.get("type", "object") in (kind, [kind])]


def undeclared(value: Any, schema: dict[str, Any], at: str, seen: set[str]) -> list[str]:
    """Where `value` carries a key its schema does not declare; `seen` collects every key
    path that was declared and present."""
    schema = resolve(schema)
    if branches := _branches(schema, value):
        results = [undeclared(value, branch, at, seen) for branch in branches]
        return [] if any(not found for found in results) else results[0]
    if isinstance(value, list):
        items = schema.get("items", {})
        return [p for i, item in enumerate(value) for p in undeclared(item, items, f"{at}[]", seen)]
    if not isinstance(value, dict) or "properties" not in schema:
        return []  # a scalar, or a free-form object (`details`, `metadata`)
    problems = []
    for key, item in value.items():
        where = f"{at}.{key}"
        if key not in schema["properties"]:
            problems.append(where)
            continue
        seen.add(where)
        problems += undeclared(item, schema["properties"][key], where, seen)
    return problems


def documented_schema(method: str, path: str, status: int) -> tuple[str, dict[str, Any]]:
    template = route_template(method, path)
    assert template is not None, f"{method} {path} is no route"
    responses = DOCUMENT["paths"][template][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {template} answered {status}, not documented"
    return f"{method} {template} {status}", responses[str(status)]["content"][JSON]["schema"]


@dataclass
class Recorder:
    """Sends requests through the real handler and keeps every answer it got."""

    runtime: ApiRuntime
    answers: list[tuple[str, str, int, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._send = sender(self.runtime)

    def call(self, method: str, path: str, body: Any = None, **options: Any) -> Answer:
        status, payload, headers = self._send(method, path, body, **options)
        self.answers.append((method, path, status, payload))
        return status, payload, headers

    def refund(
        self, transaction_id: str, amount: int | None = None, key: str | None = None, **fields: Any
    ) -> Answer:
        body: dict[str, Any] = {"transaction_id": transaction_id, "reason": "other", **fields}
        if amount is not None:
            body["amount"] = amount
        return self.call("POST", "/refunds", body, headers={"Idempotency-Key": key or new_key()})


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


def pay(api: Recorder, transaction_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "transaction_id": transaction_id,
        "amount": 100_000,
        "currency": "EUR",
        "status": "completed",
        "tax_amount": 10_000,
        "fee_amount": 2_000,
        "settlement_currency": "USD",
        "fx_rate": "1.0850",
        **fields,
    }
    status, answer, _ = api.call("POST", "/transactions", body)
    assert status in (201, 409), answer
    return answer


def drive_every_route(api: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each route's answers, success and refusal, as a client meets them."""
    tid = f"txn-{uuid.uuid4().hex[:8]}"
    pay(api, tid)
    pay(api, tid, customer_reference="another")  # TRANSACTION_EXISTS
    api.call("POST", "/transactions", {"transaction_id": tid})  # VALIDATION_ERROR
    pending = f"{tid}-pending"
    pay(api, pending, status="pending", settlement_currency=None, fx_rate=None)
    api.call("POST", f"/transactions/{pending}/complete")
    api.call("POST", f"/transactions/{tid}-absent/complete")

    refund = api.refund(tid, 5_000, metadata={"order": "A-1"})[1]
    api.refund(tid, 1_000, currency="USD")  # in the settlement currency: converted
    api.refund(tid, 1_000, metadata={"simulate": "pending"})
    api.refund(tid, 1_000, metadata={"simulate": "decline"})
    api.refund(tid, 1_000, metadata={"simulate": "network_error"})
    for _ in range(3):  # the same refusal again and again is counted, not each recorded
        api.refund(tid, 10**9)
    api.refund(f"{tid}-absent", 1_000)
    api.call("POST", "/refunds", {"transaction_id": tid, "reason": "other"})  # no key
    key = new_key()
    api.refund(tid, 700, key=key)
    api.refund(tid, 800, key=key)  # IDEMPOTENCY_KEY_REUSED

    refund_id = refund["refund_transaction_id"]
    api.call("GET", f"/refunds/{refund_id}")
    api.call("GET", f"/refunds/{tid}-REFUND-404")
    api.call("POST", f"/refunds/{refund_id}/rollback", {"reason": "entered twice"})
    api.call("POST", f"/refunds/{refund_id}/rollback", {"reason": "again"})
    text = {"Content-Type": "text/plain"}
    api.call("POST", f"/refunds/{refund_id}/rollback", "not json", headers=text)

    api.call("GET", f"/transactions/{tid}/ledger?limit=3")
    api.call("GET", f"/transactions/{tid}/audit")
    api.call("GET", f"/transactions/{tid}-absent/audit")
    api.call("GET", f"/refunds?transaction_id={tid}&limit=2")
    api.call("GET", "/refunds?cursor=not-a-cursor")
    api.call("GET", "/reports/refunds?date=2026-13-45")
    api.call("GET", f"/transactions/{tid}/ledger", anonymous=True)
    api.call("GET", f"/transactions/{tid}/ledger", scopes="refunds:write")

    disputed = f"{tid}-disputed"
    pay(api, disputed)
    chargeback = api.call("POST", f"/transactions/{disputed}/chargebacks", {"reason": "fraud"})[1]
    resolve = f"/transactions/{disputed}/chargebacks/{chargeback['chargeback_id']}/resolve"
    api.call("POST", resolve, {"outcome": "won"})
    api.call("POST", resolve, {"outcome": "lost"})
    api.call("POST", f"/transactions/{disputed}/chargebacks/none/resolve", {"outcome": "won"})
    api.call("POST", f"/transactions/{tid}-absent/chargebacks", {"reason": "fraud"})

    with monkeypatch.context() as patch:  # a bug: 500 with a correlation id
        patch.setattr(refund_creation, "request_refund", _explode)
        api.refund(tid, 100)


def _explode(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("a bug")


@pytest.fixture(scope="module")
def answers(recorder: Recorder) -> list[tuple[str, str, int, Any]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        drive_every_route(recorder, monkeypatch)
    # The day's report, now that there are refunds on the clock's day
    day = recorder.runtime.services.clock().date().isoformat()
    recorder.call("GET", f"/reports/refunds?date={day}")
    return recorder.answers


def test_every_field_of_every_answer_is_in_the_document(
    answers: list[tuple[str, str, int, Any]],
) -> None:
    seen: set[str] = set()
    problems = []
    for method, path, status, body in answers:
        label, schema = documented_schema(method, path.split("?")[0], status)
        problems += [f"{label}: {where}" for where in undeclared(body, schema, "$", seen)]
        validator = Draft202012Validator({**schema, "components": DOCUMENT["components"]})
        problems += [f"{label}: {error.message}" for error in validator.iter_errors(body)]
    assert problems == []
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
