"""The published contract, checked against answers: every key an answer carries must be a
declared property of the OpenAPI document's schema for its status, wherever it nests ($refs and
anyOf resolved). Used in-process (tests/unit/api) and against the live local stack
(tests/integration)."""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Protocol

from jsonschema import Draft202012Validator

from refund_service.api.auth import route_template
from refund_service.api.openapi_document import render
from tests.support.events import new_key

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


def contract_problems(answers: list[tuple[str, str, int, Any]], seen: set[str]) -> list[str]:
    """Every undeclared key and schema violation in `answers` (method, path, status, body)."""
    problems = []
    for method, path, status, body in answers:
        label, schema = documented_schema(method, path.split("?")[0], status)
        problems += [f"{label}: {where}" for where in undeclared(body, schema, "$", seen)]
        validator = Draft202012Validator({**schema, "components": DOCUMENT["components"]})
        problems += [f"{label}: {error.message}" for error in validator.iter_errors(body)]
    return problems


class Client(Protocol):
    def call(self, method: str, path: str, body: Any = None, **options: Any) -> Any: ...

    def refund(
        self, transaction_id: str, amount: int | None = None, key: str | None = None, **fields: Any
    ) -> Any: ...


class RefundRequests(ABC):
    """`refund` for a client that has `call`: POST /refunds with a fresh key unless given."""

    @abstractmethod
    def call(self, method: str, path: str, body: Any = None, **options: Any) -> Any: ...

    def refund(
        self, transaction_id: str, amount: int | None = None, key: str | None = None, **fields: Any
    ) -> Any:
        body: dict[str, Any] = {"transaction_id": transaction_id, "reason": "other", **fields}
        if amount is not None:
            body["amount"] = amount
        return self.call("POST", "/refunds", body, headers={"Idempotency-Key": key or new_key()})


def pay(api: Client, transaction_id: str, **fields: Any) -> dict[str, Any]:
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


def drive_every_route(api: Client, break_refunds: Callable[[], Any] | None = None) -> None:
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

    if break_refunds is not None:  # a bug: 500 with a correlation id
        with break_refunds():
            api.refund(tid, 100)
