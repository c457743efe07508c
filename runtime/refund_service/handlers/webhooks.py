"""Lambda entry point of `POST /webhooks/{processor}`: no JWT; the signature is the check."""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from refund_service.adapters.processors.factory import build_webhook_parser
from refund_service.adapters.processors.webhooks import (
    WebhookPayloadError,
    WebhookSignatureError,
)
from refund_service.api.errors import error_body
from refund_service.api.request_guard import webhook_body_refusal
from refund_service.bootstrap import WebhookRuntime, build_webhooks
from refund_service.domain.errors import ErrorCode
from refund_service.observability import logger, metrics, tracer
from refund_service.service.context import Services
from refund_service.service.webhooks import WebhookOutcome, handle_event
from refund_service.settings import WebhookSettings

SETTINGS = WebhookSettings
PREFIX = "/webhooks/"


@cache
def runtime() -> WebhookRuntime:
    return build_webhooks(SETTINGS.from_environ())


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    return base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()


def receive(
    event: dict[str, Any], svc: Services, config: WebhookSettings, log: Any
) -> dict[str, Any]:
    # `<ApiUrl>/webhooks/x` (ApiUrl ends in "/") arrives as "//webhooks/x": same route.
    processor = ("/" + event.get("rawPath", "").lstrip("/")).removeprefix(PREFIX)
    if processor != config.processor:
        return _answer(
            404, error_body(ErrorCode.NOT_FOUND, f"No webhooks are configured for {processor!r}.")
        )
    body = _body(event)
    # Refused unread: an Adyen signature can only be checked once the body is parsed.
    limits = webhook_body_refusal(body)
    if limits is not None:
        logger.warning("webhook refused: body over the limits", extra={"processor": processor})
        return _answer(
            401,
            error_body(ErrorCode.UNAUTHORIZED, "The body cannot carry a valid signature.", limits),
        )
    try:
        parser = build_webhook_parser(
            processor,
            config.processor_secret_arn,
            simulated_secret=config.simulated_webhook_secret,
            metrics=svc.metrics,
        )
        events = parser.parse(event.get("headers") or {}, body)
    except WebhookSignatureError:
        logger.warning("webhook refused: bad or missing signature", extra={"processor": processor})
        return _answer(401, error_body(ErrorCode.UNAUTHORIZED, "The signature is not valid."))
    except WebhookPayloadError as error:
        return _answer(400, error_body(ErrorCode.VALIDATION_ERROR, str(error)))
    except UnicodeError:  # a lone surrogate cannot be encoded to check an Adyen signature
        return _answer(
            400, error_body(ErrorCode.VALIDATION_ERROR, "The body holds text that is not Unicode.")
        )
    handled = [handle_event(svc, log, item) for item in events]
    for item in handled:
        attention = item.outcome in (WebhookOutcome.CONFLICT, WebhookOutcome.UNKNOWN_REFUND)
        (logger.error if attention else logger.info)(
            "webhook event handled",
            extra={
                "processor": processor,
                "event_id": item.event_id,
                "kind": item.kind.value,
                "outcome": item.outcome.value,
            },
        )
    if processor == "adyen":  # Adyen expects this exact acknowledgement
        return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "[accepted]"}
    return _answer(200, {"received": len(handled)})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = runtime()
    return receive(event, run.services, run.settings, run.event_log)
