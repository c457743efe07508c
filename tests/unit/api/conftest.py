"""The API handler over moto: DynamoDB tables, a KMS key, the simulated processor."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from refund_service.adapters.kms_envelope import KmsEnvelopeEncryptor
from refund_service.api.app import build_app, handle
from refund_service.api.refund_creation import RefundCreator
from refund_service.api.runtime import ApiRuntime
from tests.support.events import claims_for, http_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.world import World

Call = Callable[..., tuple[int, dict[str, Any], dict[str, str]]]


@pytest.fixture
def api_runtime(world: World) -> ApiRuntime:
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(Description="audit fields")["KeyMetadata"]["KeyId"]
    creator = RefundCreator(world.services, world.tables["Idempotency"], world.client)
    return ApiRuntime(world.services, creator, KmsEnvelopeEncryptor(kms, key_id))


@pytest.fixture
def call(api_runtime: ApiRuntime) -> Call:
    """Send one request through the real handler path; returns (status, body, headers)."""
    app = build_app(lambda: api_runtime)

    def send(
        method: str,
        path: str,
        body: Any = None,
        *,
        scopes: str | None = None,
        claims: dict[str, Any] | None = None,
        anonymous: bool = False,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if claims is None and not anonymous:
            claims = claims_for(scopes) if scopes is not None else claims_for()
        event = http_event(method, path, body, headers=headers, claims=claims)
        result = handle(app, event, FakeLambdaContext())
        payload = json.loads(result["body"]) if result.get("body") else {}
        return result["statusCode"], payload, result.get("headers", {})

    return send
