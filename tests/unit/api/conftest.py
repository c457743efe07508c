"""The API handler over moto: DynamoDB tables, a KMS key, the simulated processor.

Two ways to get it:

- `call` (with `world`): a world of its own, moto and clients included, for one test.
- `api`: fresh tables for each test in a moto account, clients and key that the test module
  shares (making clients is what costs; small tables keep moto fast); `module_api`: tables the
  whole module shares, for tests that write nothing. A module that uses either must not also
  use `world`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from refund_service.adapters.kms_envelope import KmsEnvelopeEncryptor
from refund_service.api.app import build_app, handle
from refund_service.api.refund_creation import RefundCreator
from refund_service.api.runtime import ApiRuntime
from tests.support.events import claims_for, http_event, new_key
from tests.support.lambda_context import FakeLambdaContext
from tests.support.world import MutableClock, World, make_world

Answer = tuple[int, dict[str, Any], dict[str, str]]
Call = Callable[..., Answer]


def runtime_for(world: World) -> ApiRuntime:
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(Description="audit fields")["KeyMetadata"]["KeyId"]
    creator = RefundCreator(world.services, world.tables["Idempotency"], world.client)
    return ApiRuntime(world.services, creator, KmsEnvelopeEncryptor(kms, key_id))


def sender(runtime: ApiRuntime) -> Call:
    """A `call` function over its own resolver: one request through the real handler path."""
    app = build_app(lambda: runtime)

    def send(
        method: str,
        path: str,
        body: Any = None,
        *,
        scopes: str | None = None,
        claims: dict[str, Any] | None = None,
        anonymous: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        if claims is None and not anonymous:
            claims = claims_for(scopes) if scopes is not None else claims_for()
        event = http_event(method, path, body, headers=headers, claims=claims)
        result = handle(app, event, FakeLambdaContext())
        payload = json.loads(result["body"]) if result.get("body") else {}
        return result["statusCode"], payload, result.get("headers", {})

    return send


@pytest.fixture
def api_runtime(world: World) -> ApiRuntime:
    return runtime_for(world)


@pytest.fixture
def call(api_runtime: ApiRuntime) -> Call:
    """Send one request through the real handler path; returns (status, body, headers)."""
    return sender(api_runtime)


@dataclass
class Api:
    world: World
    runtime: ApiRuntime
    call: Call

    def pay(self, amount: int = 10_000, **options: Any) -> str:
        """A payment recorded straight through the service (completed, USD by default)."""
        return self.world.pay(amount=amount, **options)

    def refund(
        self,
        transaction_id: str,
        amount: int | None = None,
        *,
        key: str | None = None,
        simulate: str | None = None,
        **fields: Any,
    ) -> Answer:
        body: dict[str, Any] = {"transaction_id": transaction_id, "reason": "other", **fields}
        if amount is not None:
            body["amount"] = amount
        if simulate is not None:
            body["metadata"] = {"simulate": simulate}
        return self.call("POST", "/refunds", body, headers={"Idempotency-Key": key or new_key()})

    def ledger(self, transaction_id: str) -> dict[str, Any]:
        status, body, _ = self.call("GET", f"/transactions/{transaction_id}/ledger")
        assert status == 200, body
        return body

    def audit(self, transaction_id: str) -> dict[str, Any]:
        status, body, _ = self.call("GET", f"/transactions/{transaction_id}/audit")
        assert status == 200, body
        return body

    def written(self, transaction_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Everything stored about a transaction: its ledger and its audit trail."""
        return self.ledger(transaction_id), self.audit(transaction_id)


@dataclass(frozen=True)
class MotoAccount:
    dynamodb: Any
    kms: Any
    key_id: str


@pytest.fixture(scope="module")
def moto_account() -> Iterator[MotoAccount]:
    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        key_id = kms.create_key(Description="audit fields")["KeyMetadata"]["KeyId"]
        yield MotoAccount(boto3.client("dynamodb", region_name="us-east-1"), kms, key_id)


@contextmanager
def fresh_api(account: MotoAccount) -> Iterator[Api]:
    """The API over tables of its own, dropped afterwards."""
    client = account.dynamodb
    world = make_world(client, MutableClock(), suffix=f"-{uuid.uuid4().hex[:8]}")
    creator = RefundCreator(world.services, world.tables["Idempotency"], client)
    runtime = ApiRuntime(world.services, creator, KmsEnvelopeEncryptor(account.kms, account.key_id))
    try:
        yield Api(world, runtime, sender(runtime))
    finally:
        for name in world.tables.values():
            client.delete_table(TableName=name)


@pytest.fixture
def api(moto_account: MotoAccount) -> Iterator[Api]:
    """The API over tables for this test alone."""
    with fresh_api(moto_account) as api:
        yield api


@pytest.fixture(scope="module")
def module_api(moto_account: MotoAccount) -> Iterator[Api]:
    """The API over tables the whole module shares: for tests that write nothing."""
    with fresh_api(moto_account) as api:
        yield api
