"""The simulated processor's signed webhooks: the parser, its setting, and the handler."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from refund_service.adapters.dynamodb.event_log import DynamoDBEventLog
from refund_service.adapters.processors import simulated_webhook as wire
from refund_service.adapters.processors.factory import build_webhook_parser
from refund_service.adapters.processors.webhooks import WebhookPayloadError, WebhookSignatureError
from refund_service.adapters.processors.webhooks_simulated import SimulatedWebhooks
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorStatus,
    WebhookEvent,
    WebhookEventKind,
)
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.handlers.webhooks import receive
from refund_service.service.refunds import RefundCommand, request_refund
from refund_service.settings import LOCAL_ONLY_VARIABLES, WebhookSettings
from stacks.constructs.functions import FUNCTIONS
from tests.support.events import http_event
from tests.support.world import USER, World, webhook_settings

SECRET = "local-webhook-secret"
NOW = 1_800_000_000


def sim_body(code: str = "APPROVED", **overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "refund_id": "txn_1-REFUND",
        "transaction_id": "txn_1",
        "amount": 2_500,
        "currency": "EUR",
        "code": code,
        "reference": "sim_txn_1-REFUND",
        "created": NOW,
        **overrides,
    }
    return wire.event_body(**fields)


def sim_headers(body: bytes, secret: str = SECRET, timestamp: int = NOW) -> dict[str, str]:
    return {wire.SIGNATURE_HEADER: wire.signature_header(secret, timestamp, body)}


def parse(body: bytes, headers: dict[str, str], now: float = NOW) -> WebhookEvent:
    (event,) = SimulatedWebhooks(SECRET, clock=lambda: now).parse(headers, body)
    return event


def test_an_approved_refund_event_succeeds_with_its_result() -> None:
    body = sim_body("APPROVED")
    event = parse(body, sim_headers(body))
    assert event.kind is WebhookEventKind.REFUND_SUCCEEDED
    assert (event.processor, event.event_type) == ("simulated", "refund.succeeded")
    assert event.event_id == "evt_sim_sim_txn_1-REFUND_approved"
    assert (event.refund_id, event.transaction_id) == ("txn_1-REFUND", "txn_1")
    assert (event.amount, event.currency) == (2_500, "EUR")
    assert event.result is not None
    assert (event.result.code, event.result.status, event.result.processor_reference) == (
        ProcessorCode.APPROVED,
        ProcessorStatus.SUCCEEDED,
        "sim_txn_1-REFUND",
    )


@pytest.mark.parametrize("code", ["DECLINED", "INSUFFICIENT_FUNDS"])
def test_any_other_decision_is_a_failure(code: str) -> None:
    body = sim_body(code)
    event = parse(body, sim_headers(body))
    assert (event.kind, event.event_type) == (WebhookEventKind.REFUND_FAILED, "refund.failed")
    assert event.result is not None and event.result.code is ProcessorCode(code)


def test_the_header_name_is_case_insensitive() -> None:
    body = sim_body()
    headers = {k.lower(): v for k, v in sim_headers(body).items()}
    assert parse(body, headers).kind is WebhookEventKind.REFUND_SUCCEEDED


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {wire.SIGNATURE_HEADER: ""},
        {wire.SIGNATURE_HEADER: "t=1800000000"},
        {"Stripe-Signature": "t=1800000000,v1=00"},
    ],
    ids=["missing", "empty", "no-v1", "other-header"],
)
def test_a_missing_signature_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookSignatureError):
        parse(sim_body(), headers)


def test_a_wrong_secret_or_an_edited_body_is_refused() -> None:
    body = sim_body()
    with pytest.raises(WebhookSignatureError):
        parse(body, sim_headers(body, secret="another"))
    with pytest.raises(WebhookSignatureError):
        parse(body.replace(b"2500", b"9500"), sim_headers(body))


@pytest.mark.parametrize(("age", "accepted"), [(300, True), (301, False), (-301, False)])
def test_signatures_are_good_for_five_minutes(age: int, accepted: bool) -> None:
    body = sim_body()
    headers = sim_headers(body, timestamp=NOW - age)
    if accepted:
        assert parse(body, headers).kind is WebhookEventKind.REFUND_SUCCEEDED
    else:
        with pytest.raises(WebhookSignatureError, match="tolerance"):
            parse(body, headers)


def test_the_signature_is_checked_before_the_body_is_read() -> None:
    # An unsigned body that is not even JSON is a signature failure, not a payload one
    with pytest.raises(WebhookSignatureError):
        parse(b"not json", {})


def test_without_a_secret_every_webhook_is_refused() -> None:
    body = sim_body()
    with pytest.raises(WebhookSignatureError, match="no simulated webhook secret"):
        SimulatedWebhooks("", clock=lambda: NOW).parse(sim_headers(body, secret=""), body)


def signed_document(document: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(document).encode()
    return body, sim_headers(body)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["data"].update(code="NOT_A_CODE"),
        lambda d: d["data"].update(amount="2500"),
        lambda d: d["data"].pop("refund_id"),
        lambda d: d.update(type="refund.succeeded", data={**d["data"], "code": "DECLINED"}),
        lambda d: d.pop("data"),
    ],
    ids=["unknown-code", "string-amount", "no-refund-id", "type-contradicts-code", "no-data"],
)
def test_a_signed_but_unreadable_event_is_a_payload_error(change: Any) -> None:
    document = json.loads(sim_body())
    change(document)
    body, headers = signed_document(document)
    with pytest.raises(WebhookPayloadError):
        parse(body, headers)


# --- Configuration ------------------------------------------------------------------------------


def test_the_factory_builds_the_simulated_parser_from_the_local_secret() -> None:
    def no_secret_manager(arn: str) -> dict[str, Any]:
        raise AssertionError("the simulated parser needs no processor secret")

    body = sim_body()
    parser = build_webhook_parser(
        "simulated", "", secrets=no_secret_manager, simulated_secret=SECRET
    )
    (event,) = parser.parse(sim_headers(body, timestamp=int(time.time())), body)
    assert event.kind is WebhookEventKind.REFUND_SUCCEEDED


def test_the_secret_setting_comes_from_its_variable_and_defaults_to_empty() -> None:
    environ = {
        "LEDGER_TABLE_NAME": "l",
        "AUDIT_TABLE_NAME": "a",
        "IDEMPOTENCY_TABLE_NAME": "i",
        "PROCESSOR": "simulated",
        "PROCESSOR_SECRET_ARN": "",
    }
    assert WebhookSettings.from_environ(environ).simulated_webhook_secret == ""
    with_secret = environ | {"SIMULATED_WEBHOOK_SECRET": SECRET}
    assert WebhookSettings.from_environ(with_secret).simulated_webhook_secret == SECRET
    assert "SIMULATED_WEBHOOK_SECRET" in WebhookSettings.variables()


def test_no_deployed_function_is_given_a_local_only_variable() -> None:
    assert "SIMULATED_WEBHOOK_SECRET" in LOCAL_ONLY_VARIABLES
    for spec in FUNCTIONS:
        assert not set(spec.environment) & set(LOCAL_ONLY_VARIABLES), spec.construct_id


# --- Through the webhooks handler -------------------------------------------------------------


def deliver(world: World, body: bytes, headers: dict[str, str], secret: str = SECRET) -> int:
    settings = webhook_settings(world.tables, simulated_webhook_secret=secret)
    event = http_event("POST", "/webhooks/simulated", body.decode(), headers=headers)
    log = DynamoDBEventLog(world.client, world.tables["Idempotency"])
    return int(receive(event, world.services, settings, log)["statusCode"])


def pending_refund(world: World) -> tuple[str, str]:
    tid = world.pay(amount=10_000)
    command = RefundCommand(tid, RefundReason.OTHER, 2_500, metadata={"simulate": "pending"})
    return tid, request_refund(world.services, command, USER).refund.refund_id


def decided(tid: str, rid: str) -> bytes:
    return sim_body(
        refund_id=rid, transaction_id=tid, reference=f"sim_{rid}", created=int(time.time())
    )


def test_a_signed_simulated_webhook_settles_the_pending_refund(world: World) -> None:
    tid, rid = pending_refund(world)
    body = decided(tid, rid)
    assert deliver(world, body, sim_headers(body, timestamp=int(time.time()))) == 200
    state = world.store.load(tid)
    assert state.refunds[rid].status is RefundStatus.SUCCESS
    assert state.summary.refunded_amount == 2_500


@pytest.mark.parametrize("problem", ["unsigned", "wrong secret", "stale", "no secret set"])
def test_a_bad_simulated_webhook_is_401_and_changes_nothing(world: World, problem: str) -> None:
    tid, rid = pending_refund(world)
    body = decided(tid, rid)
    now, secret = int(time.time()), SECRET
    headers = {
        "unsigned": {},
        "wrong secret": sim_headers(body, secret="guess", timestamp=now),
        "stale": sim_headers(body, timestamp=now - 301),
        "no secret set": sim_headers(body, secret="", timestamp=now),
    }[problem]
    if problem == "no secret set":
        secret = ""
    before = world.store.load(tid)
    assert deliver(world, body, headers, secret) == 401
    assert world.store.load(tid) == before
