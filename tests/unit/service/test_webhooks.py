"""Processor webhooks through the webhooks handler: signatures, settlement, late failures,
chargebacks, replays. Refunds are made with the simulated processor; the notifications are
signed the way Stripe and Adyen sign them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import boto3
import pytest

from refund_service.adapters.dynamodb.event_log import DynamoDBEventLog
from refund_service.domain.ledger import EntryType
from refund_service.domain.processor import ProcessorCode, ProcessorResult, normalized
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.handlers.webhooks import receive
from refund_service.service.queries import get_audit, verify_transaction
from refund_service.service.refunds import RefundCommand, request_refund
from tests.support.events import http_event
from tests.support.world import USER, World, webhook_settings

STRIPE_SECRET = "whsec_unit_test"
ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"


@pytest.fixture
def secret_arn(moto_dynamodb: Any) -> str:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    value = {
        "stripe_api_key": "sk_test_x",
        "stripe_webhook_secret": STRIPE_SECRET,
        "adyen_api_key": "k",
        "adyen_merchant_account": "Shop",
        "adyen_base_url": "https://checkout-test.adyen.com/v71",
        "adyen_hmac_key": ADYEN_KEY,
    }
    name = f"processor-{uuid.uuid4().hex[:6]}"
    return str(client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])


def deliver(
    world: World, processor: str, secret_arn: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    settings = webhook_settings(world.tables, processor=processor, processor_secret_arn=secret_arn)
    event = http_event("POST", f"/webhooks/{processor}", body.decode(), headers=headers)
    log = DynamoDBEventLog(world.client, world.tables["Idempotency"])
    result = receive(event, world.services, settings, log)
    text = result["body"]
    return result["statusCode"], json.loads(text) if text.startswith("{") else text


def stripe_refund_event(
    refund_id: str, status: str, previous: str | None = None, event_id: str | None = None
) -> bytes:
    obj = {
        "id": "re_123",
        "object": "refund",
        "amount": 4_000,
        "currency": "usd",
        "status": status,
        "payment_intent": "pi_123",
        "metadata": {"refund_id": refund_id},
        "failure_reason": "expired_or_canceled_card" if status == "failed" else None,
    }
    data: dict[str, Any] = {"object": obj}
    if previous:
        data["previous_attributes"] = {"status": previous}
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:12]}",
            "object": "event",
            "type": "refund.updated",
            "data": data,
        }
    ).encode()


def stripe_signed(body: bytes, secret: str = STRIPE_SECRET) -> dict[str, str]:
    timestamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {"Stripe-Signature": f"t={timestamp},v1={mac.hexdigest()}"}


def refund_of(world: World, amount: int, simulate: str = "approve") -> tuple[str, str]:
    tid = world.pay(amount=10_000, tax=1_000)
    command = RefundCommand(tid, RefundReason.OTHER, amount, metadata={"simulate": simulate})
    outcome = request_refund(world.services, command, USER)
    return tid, outcome.refund.refund_id


def test_timeline_success_then_late_failure_then_reversal(world: World, secret_arn: str) -> None:
    # Given a refund the processor approved
    tid, rid = refund_of(world, 4_000)
    assert world.store.load(tid).summary.refunded_amount == 4_000
    # When Stripe later reports that refund as failed
    body = stripe_refund_event(rid, "failed", previous="succeeded")
    status, answer = deliver(world, "stripe", secret_arn, body, stripe_signed(body))
    # Then REVERSAL entries undo it, the refund is failed and the amount refundable again
    assert (status, answer) == (200, {"received": 1})
    state = world.store.load(tid)
    assert state.refunds[rid].status is RefundStatus.FAILED
    assert state.summary.refunded_amount == 0 and state.summary.refundable_amount == 10_000
    reversals = [e for e in state.entries if e.type is EntryType.REVERSAL]
    assert {e.reverses_type for e in reversals} == {
        EntryType.REFUND_PAID,
        EntryType.REFUND_PENDING,
    }
    assert verify_transaction(world.store, tid).ok
    # and the same event again changes nothing
    before = world.store.load(tid).entries
    assert deliver(world, "stripe", secret_arn, body, stripe_signed(body))[0] == 200
    assert world.store.load(tid).entries == before


def test_pending_refund_settles_on_the_webhook(world: World, secret_arn: str) -> None:
    tid, rid = refund_of(world, 4_000, simulate="pending")
    body = stripe_refund_event(rid, "succeeded", previous="pending")
    assert deliver(world, "stripe", secret_arn, body, stripe_signed(body))[0] == 200
    state = world.store.load(tid)
    assert state.refunds[rid].status is RefundStatus.SUCCESS
    assert state.summary.pending_refund_amount == 0 and state.summary.refunded_amount == 4_000
    actions = [r.action.value for r in get_audit(world.store, tid).records]
    assert actions[-2:] == ["PROCESSOR_RESPONDED", "REFUND_SUCCEEDED"]


@pytest.mark.parametrize("tamper", ["bad secret", "edited body", "missing header", "stale"])
def test_bad_signatures_answer_401_and_write_nothing(
    world: World, secret_arn: str, tamper: str
) -> None:
    tid, rid = refund_of(world, 4_000, simulate="pending")
    body = stripe_refund_event(rid, "succeeded")
    headers = stripe_signed(body)
    if tamper == "bad secret":
        headers = stripe_signed(body, "whsec_other")
    elif tamper == "edited body":
        body = body.replace(b"4000", b"9000")
    elif tamper == "missing header":
        headers = {}
    else:
        old = int(time.time()) - 600
        mac = hmac.new(STRIPE_SECRET.encode(), f"{old}.".encode() + body, hashlib.sha256)
        headers = {"Stripe-Signature": f"t={old},v1={mac.hexdigest()}"}
    before = world.store.load(tid)
    status, answer = deliver(world, "stripe", secret_arn, body, headers)
    assert (status, answer["error_code"]) == (401, "UNAUTHORIZED")
    assert world.store.load(tid) == before


def test_stripe_dispute_records_a_chargeback_once(world: World, secret_arn: str) -> None:
    tid = world.pay(amount=10_000)
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "amount": 10_000,
        "currency": "usd",
        "payment_intent": tid,
        "reason": "fraudulent",
        "status": "needs_response",
    }
    for event_id in ("evt_d1", "evt_d2"):  # two events about the same dispute
        body = json.dumps(
            {"id": event_id, "type": "charge.dispute.created", "data": {"object": dispute}}
        ).encode()
        assert deliver(world, "stripe", secret_arn, body, stripe_signed(body))[0] == 200
    state = world.store.load(tid)
    assert [e.type for e in state.entries].count(EntryType.CHARGEBACK) == 1
    assert state.summary.status.value == "chargeback"


def adyen_notification(event_code: str, success: str, refund_id: str, value: int) -> bytes:
    item: dict[str, Any] = {
        "eventCode": event_code,
        "success": success,
        "pspReference": f"psp-{uuid.uuid4().hex[:8]}",
        "originalReference": "pay-1",
        "merchantAccountCode": "Shop",
        "merchantReference": refund_id,
        "amount": {"value": value, "currency": "USD"},
        "eventDate": "2026-11-26T10:00:00+01:00",
        "additionalData": {},
    }
    signing = ":".join(
        str(x)
        for x in (
            item["pspReference"],
            item["originalReference"],
            item["merchantAccountCode"],
            item["merchantReference"],
            value,
            "USD",
            event_code,
            success,
        )
    )
    mac = hmac.new(bytes.fromhex(ADYEN_KEY), signing.encode(), hashlib.sha256).digest()
    item["additionalData"]["hmacSignature"] = base64.b64encode(mac).decode()
    return json.dumps(
        {"live": "false", "notificationItems": [{"NotificationRequestItem": item}]}
    ).encode()


def test_adyen_refund_failure_voids_and_late_reversal_reverses(
    world: World, secret_arn: str
) -> None:
    tid, pending = refund_of(world, 3_000, simulate="pending")
    body = adyen_notification("REFUND", "false", pending, 3_000)
    status, answer = deliver(world, "adyen", secret_arn, body, {})
    assert (status, answer) == (200, "[accepted]")
    assert world.store.load(tid).refunds[pending].status is RefundStatus.FAILED

    paid = request_refund(
        world.services, RefundCommand(tid, RefundReason.OTHER, 2_000), USER
    ).refund.refund_id
    body = adyen_notification("REFUNDED_REVERSED", "true", paid, 2_000)
    assert deliver(world, "adyen", secret_arn, body, {})[0] == 200
    state = world.store.load(tid)
    assert state.refunds[paid].status is RefundStatus.FAILED
    assert state.summary.refunded_amount == 0
    assert verify_transaction(world.store, tid).ok


def test_other_processors_webhooks_are_not_served(world: World, secret_arn: str) -> None:
    settings = webhook_settings(world.tables, processor="stripe", processor_secret_arn=secret_arn)
    event = http_event("POST", "/webhooks/adyen", "{}")
    log = DynamoDBEventLog(world.client, world.tables["Idempotency"])
    assert receive(event, world.services, settings, log)["statusCode"] == 404


def test_adyen_refund_failed_with_success_true_voids_a_pending_refund(
    world: World, secret_arn: str
) -> None:
    tid, rid = refund_of(world, 3_000, simulate="pending")
    body = adyen_notification("REFUND_FAILED", "true", rid, 3_000)
    assert deliver(world, "adyen", secret_arn, body, {})[0] == 200
    state = world.store.load(tid)
    assert state.refunds[rid].status is RefundStatus.FAILED
    assert state.summary.refunded_amount == 0 and state.summary.pending_refund_amount == 0


def test_a_dispute_finds_the_payment_by_its_processor_reference(
    world: World, secret_arn: str
) -> None:
    tid = world.pay(amount=10_000, processor_reference="pi_order_1")
    dispute = {
        "id": "dp_9",
        "object": "dispute",
        "amount": 10_000,
        "currency": "usd",
        "payment_intent": "pi_order_1",
        "reason": "fraudulent",
    }
    body = json.dumps(
        {"id": "evt_d9", "type": "charge.dispute.created", "data": {"object": dispute}}
    ).encode()
    assert deliver(world, "stripe", secret_arn, body, stripe_signed(body))[0] == 200
    assert world.store.load(tid).summary.chargeback_amount == 10_000


def test_a_stale_success_for_a_declined_refund_is_flagged_not_booked(
    world: World, secret_arn: str
) -> None:
    # the processor declined, and its own record still says so: the success event is stale
    tid, rid = refund_of(world, 2_000, simulate="decline")
    body = stripe_refund_event(rid, "succeeded", previous="pending")
    assert deliver(world, "stripe", secret_arn, body, stripe_signed(body))[0] == 200
    assert world.store.load(tid).refunds[rid].status is RefundStatus.FAILED
    assert world.metrics.counts.get("RefundOutcomeConflict") == 1


def test_a_success_the_processor_confirms_for_a_declined_refund_is_booked(
    world: World, secret_arn: str
) -> None:
    tid, rid = refund_of(world, 2_000, simulate="decline")
    failed_entries = world.store.load(tid).entries
    simulated = world.services.processor

    class PaidAfterAll:
        name = simulated.name

        def __getattr__(self, attribute: str) -> Any:
            return getattr(simulated, attribute)

        def lookup(self, request: Any) -> ProcessorResult:
            return normalized(ProcessorCode.APPROVED, "simulated", reference=f"sim_{rid}")

    world.services.processor = PaidAfterAll()  # type: ignore[assignment]
    body = stripe_refund_event(rid, "succeeded", previous="pending")
    assert deliver(world, "stripe", secret_arn, body, stripe_signed(body))[0] == 200
    state = world.store.load(tid)
    assert state.refunds[rid].status is RefundStatus.SUCCESS  # the payout is booked...
    assert state.entries[: len(failed_entries)] == failed_entries  # ...by new entries only
    added = [e.type.value for e in state.entries[len(failed_entries) :]]
    assert added == ["REVERSAL", "PAYMENT-SUCCESS"]
    assert state.summary.refunded_amount == 2_000
    assert world.metrics.counts.get("RefundOutcomeConflict") == 1
    again = deliver(world, "stripe", secret_arn, body, stripe_signed(body))
    assert again[0] == 200 and world.store.load(tid).summary.refunded_amount == 2_000
