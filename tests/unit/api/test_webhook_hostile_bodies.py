"""The public webhooks route never crashes on a hostile body: over the limits it is refused
unread with 401, and what the processor's parser cannot read is 400 (issue 12, finding 4)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from refund_service.adapters.dynamodb.event_log import DynamoDBEventLog
from refund_service.adapters.processors.webhooks_adyen import adyen_signature
from refund_service.api.request_guard import WEBHOOK_MAX_BYTES, WEBHOOK_MAX_DEPTH
from refund_service.handlers import webhooks
from refund_service.settings import WebhookSettings
from tests.support.events import http_event
from tests.support.world import World, webhook_settings

ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"


@pytest.fixture
def adyen_settings(world: World) -> WebhookSettings:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    value = {
        "adyen_api_key": "k",
        "adyen_merchant_account": "Shop",
        "adyen_base_url": "https://checkout-test.adyen.com/v71",
        "adyen_hmac_key": ADYEN_KEY,
    }
    arn = secrets.create_secret(
        Name=f"adyen-{uuid.uuid4().hex[:6]}", SecretString=json.dumps(value)
    )
    return webhook_settings(world.tables, processor="adyen", processor_secret_arn=str(arn["ARN"]))


def deliver(world: World, settings: WebhookSettings, body: str) -> tuple[int, Any]:
    event = http_event("POST", "/webhooks/adyen", body)
    log = DynamoDBEventLog(world.client, world.tables["Idempotency"])
    result = webhooks.receive(event, world.services, settings, log)
    text = result["body"]
    return result["statusCode"], json.loads(text) if text.startswith("{") else text


def adyen_item(**fields: Any) -> dict[str, Any]:
    return {
        "amount": {"currency": "EUR", "value": 1000},
        "eventCode": "AUTHORISATION",
        "merchantAccountCode": "Shop",
        "merchantReference": "order-1",
        "pspReference": "X6V9CT8PHJ7BC7X2",
        "success": "true",
        "additionalData": {},
        **fields,
    }


def notification(item: dict[str, Any]) -> str:
    return json.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": item}]})


@pytest.fixture
def parser_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*_: Any, **__: Any) -> Any:
        raise AssertionError("the body reached the processor's parser")

    monkeypatch.setattr(webhooks, "build_webhook_parser", never)


@pytest.mark.usefixtures("parser_untouched")
def test_an_unsigned_body_nested_5000_deep_is_401_unread(
    world: World, adyen_settings: WebhookSettings
) -> None:
    status, answer = deliver(world, adyen_settings, "[" * 5000 + "]" * 5000)
    assert (status, answer["error_code"]) == (401, "UNAUTHORIZED")
    assert answer["details"] == {"limit_depth": WEBHOOK_MAX_DEPTH}


@pytest.mark.usefixtures("parser_untouched")
def test_an_oversized_body_is_401_unread(world: World, adyen_settings: WebhookSettings) -> None:
    padding = "x" * WEBHOOK_MAX_BYTES
    status, answer = deliver(world, adyen_settings, notification(adyen_item(reason=padding)))
    assert (status, answer["details"]) == (401, {"limit_bytes": WEBHOOK_MAX_BYTES})


def test_a_lone_surrogate_in_a_signed_field_is_400(
    world: World, adyen_settings: WebhookSettings
) -> None:
    body = notification(adyen_item(additionalData={"hmacSignature": "AAAA"}))
    body = body.replace("X6V9CT8PHJ7BC7X2", "\\ud800")
    status, answer = deliver(world, adyen_settings, body)
    assert (status, answer["error_code"]) == (400, "VALIDATION_ERROR")


def test_a_5000_digit_amount_is_400(world: World, adyen_settings: WebhookSettings) -> None:
    body = notification(adyen_item()).replace('"value": 1000', '"value": ' + "9" * 5000)
    status, answer = deliver(world, adyen_settings, body)
    assert (status, answer["error_code"]) == (400, "VALIDATION_ERROR")


def test_a_signed_notification_within_the_limits_is_accepted(
    world: World, adyen_settings: WebhookSettings
) -> None:
    item = adyen_item()
    item["additionalData"] = {"hmacSignature": adyen_signature(item, ADYEN_KEY)}
    assert deliver(world, adyen_settings, notification(item)) == (200, "[accepted]")
