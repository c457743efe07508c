"""Webhook signatures (known keys and vectors) and event classification, Stripe and Adyen."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from refund_service.adapters.processors.credentials import STRIPE_API_VERSION
from refund_service.adapters.processors.factory import build_webhook_parser
from refund_service.adapters.processors.webhooks import (
    WebhookPayloadError,
    WebhookSignatureError,
)
from refund_service.adapters.processors.webhooks_adyen import AdyenWebhooks, adyen_signature
from refund_service.adapters.processors.webhooks_stripe import StripeWebhooks
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorStatus,
    WebhookEvent,
    WebhookEventKind,
)
from tests.unit.processors.test_processors_stripe import (
    SAMPLE_REFUND_ID,
    refund_object,
    stripe_sample,
)

# --- Stripe ------------------------------------------------------------------------------------

SECRET = "whsec_test_secret"
NOW = 1_700_000_000


SAMPLE_EVENT_ID = "evt_1Pgc76B7WZ01zgkWwyRHS12y"


def stripe_event(event_type: str, obj: dict[str, Any], **data: Any) -> bytes:
    """Stripe's published event envelope around `obj`, as our webhook endpoint gets it: its
    `api_version` ours (null in the sample), its `type` and `data` those of the test."""
    event = {
        **stripe_sample("event"),
        "api_version": STRIPE_API_VERSION,
        "data": {"object": obj, **data},
        "type": event_type,
    }
    return json.dumps(event).encode()


def signed(body: bytes, secret: str = SECRET, timestamp: int = NOW) -> dict[str, str]:
    """The header as Stripe builds it: v1 = hex HMAC-SHA256 of '<t>.<body>'."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {"stripe-signature": f"t={timestamp},v1={mac.hexdigest()},v0=ignored"}


def stripe_parser(*secrets: str, now: float = NOW) -> StripeWebhooks:
    return StripeWebhooks(secrets or (SECRET,), clock=lambda: now)


def only(events: list[Any]) -> WebhookEvent:
    assert len(events) == 1
    assert isinstance(events[0], WebhookEvent)
    return events[0]


def test_a_signed_succeeded_refund_settles_our_refund() -> None:
    body = stripe_event(
        "refund.updated", refund_object("succeeded"), previous_attributes={"status": "pending"}
    )
    event = only(stripe_parser().parse(signed(body), body))
    assert event.kind is WebhookEventKind.REFUND_SUCCEEDED
    assert (event.processor, event.event_id, event.event_type) == (
        "stripe",
        SAMPLE_EVENT_ID,
        "refund.updated",
    )
    assert (event.refund_id, event.transaction_id) == ("txn_1-REFUND", "txn_1")
    assert (event.amount, event.currency) == (100, "USD")
    assert event.result is not None
    assert event.result.code is ProcessorCode.APPROVED
    assert event.result.processor_reference == SAMPLE_REFUND_ID
    assert event.payment_reference == "pi_1GszsK2eZvKYlo2CfhZyoZLp"
    assert event.other_payment_references == ("ch_1PgafuB7WZ01zgkWXYmPNZs8",)


def test_an_event_in_another_api_version_is_read_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a refund event rendered for an endpoint still on an older API version
    body = json.dumps(
        {
            **json.loads(stripe_event("refund.updated", refund_object("succeeded"))),
            "api_version": "2025-03-31.basil",
        }
    ).encode()
    counts = Counts()
    # When it is parsed
    event = only(
        StripeWebhooks((SECRET,), metrics=counts, clock=lambda: NOW).parse(signed(body), body)
    )
    # Then it is read as usual, and an operator is told both versions
    assert event.kind is WebhookEventKind.REFUND_SUCCEEDED
    assert counts.counts == {"WebhookOtherApiVersion": 1}
    [record] = [r for r in caplog.records if "another API version" in r.getMessage()]
    assert (record.event_api_version, record.adapter_api_version) == (
        "2025-03-31.basil",
        STRIPE_API_VERSION,
    )


@pytest.mark.parametrize("version", [STRIPE_API_VERSION, None])
def test_an_event_in_our_api_version_or_none_is_not_counted(version: str | None) -> None:
    event = json.loads(stripe_event("refund.updated", refund_object("succeeded")))
    body = json.dumps({**event, "api_version": version}).encode()
    counts = Counts()

    StripeWebhooks((SECRET,), metrics=counts, clock=lambda: NOW).parse(signed(body), body)

    assert counts.counts == {}


def test_the_version_compared_is_the_one_the_secret_names() -> None:
    # Given a secret that holds the endpoint's older version while the two move together
    secret = {
        "stripe_api_key": "sk",
        "stripe_webhook_secret": SECRET,
        "stripe_api_version": "2025-03-31.basil",
    }
    counts = Counts()
    parser = build_webhook_parser("stripe", "arn", secrets=lambda _: secret, metrics=counts)
    event = json.loads(stripe_event("refund.updated", refund_object("succeeded")))
    older = json.dumps({**event, "api_version": "2025-03-31.basil"}).encode()
    newer = json.dumps({**event, "api_version": STRIPE_API_VERSION}).encode()
    # When an event in each version arrives
    parser.parse(signed(older, timestamp=int(time.time())), older)
    parser.parse(signed(newer, timestamp=int(time.time())), newer)
    # Then only the one in another version than the secret's is counted
    assert counts.counts == {"WebhookOtherApiVersion": 1}


def test_the_header_name_is_case_insensitive() -> None:
    body = stripe_event("refund.created", refund_object())
    headers = {"Stripe-Signature": signed(body)["stripe-signature"]}
    assert only(stripe_parser().parse(headers, body)).kind is WebhookEventKind.REFUND_SUCCEEDED


def test_a_tampered_body_is_rejected() -> None:
    body = stripe_event("refund.updated", refund_object("failed", failure_reason="declined"))
    headers = signed(body)
    tampered = body.replace(b'"failed"', b'"succeeded"')
    with pytest.raises(WebhookSignatureError, match="matches"):
        stripe_parser().parse(headers, tampered)


def test_a_signature_with_another_secret_is_rejected() -> None:
    body = stripe_event("refund.updated", refund_object())
    with pytest.raises(WebhookSignatureError):
        stripe_parser().parse(signed(body, secret="whsec_other"), body)


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_signature_outside_five_minutes_is_rejected(skew: int) -> None:
    body = stripe_event("refund.updated", refund_object())
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        stripe_parser(now=NOW + skew).parse(signed(body), body)


def test_a_signature_within_five_minutes_is_accepted() -> None:
    body = stripe_event("refund.updated", refund_object())
    assert stripe_parser(now=NOW + 299).parse(signed(body), body)


def test_a_replayed_timestamp_cannot_be_moved_forward() -> None:
    body = stripe_event("refund.updated", refund_object())
    header = signed(body)["stripe-signature"].replace(f"t={NOW}", f"t={NOW + 600}")
    with pytest.raises(WebhookSignatureError, match="matches"):
        stripe_parser(now=NOW + 600).parse({"stripe-signature": header}, body)


@pytest.mark.parametrize("header", [None, "", "v1=abc", f"t={NOW}", "t=soon,v1=abc", "garbage"])
def test_missing_or_malformed_signature_headers_are_rejected(header: str | None) -> None:
    body = stripe_event("refund.updated", refund_object())
    headers = {} if header is None else {"stripe-signature": header}
    with pytest.raises(WebhookSignatureError):
        stripe_parser().parse(headers, body)


def test_a_rotated_secret_still_verifies_during_rotation() -> None:
    body = stripe_event("refund.updated", refund_object())
    parser = stripe_parser("whsec_new", SECRET)
    assert parser.parse(signed(body, secret=SECRET), body)
    assert parser.parse(signed(body, secret="whsec_new"), body)


def test_a_failed_refund_is_classified_with_its_reason() -> None:
    refund = refund_object("failed", failure_reason="insufficient_funds")
    body = stripe_event("refund.failed", refund)
    event = only(stripe_parser().parse(signed(body), body))
    assert event.kind is WebhookEventKind.REFUND_FAILED
    assert event.result is not None
    assert event.result.code is ProcessorCode.INSUFFICIENT_FUNDS
    assert event.result.status is ProcessorStatus.FAILED
    assert event.reason == "insufficient_funds"


def test_failed_after_succeeded_is_a_late_failure() -> None:
    refund = refund_object("failed", failure_reason="expired_or_canceled_card")
    body = stripe_event(
        "charge.refund.updated", refund, previous_attributes={"status": "succeeded"}
    )
    event = only(stripe_parser().parse(signed(body), body))
    assert event.kind is WebhookEventKind.REFUND_FAILED
    assert event.reason == "failed after succeeded"
    assert event.result is not None
    assert event.result.code is ProcessorCode.EXPIRED_OR_CANCELED_CARD


def test_the_event_type_decides_before_the_fields() -> None:
    # refund.failed is a failure even if the object it carries still reads otherwise
    body = stripe_event("refund.failed", refund_object("pending"))
    event = only(stripe_parser().parse(signed(body), body))
    assert event.kind is WebhookEventKind.REFUND_FAILED
    assert event.result is not None
    assert event.result.code is ProcessorCode.UNKNOWN


@pytest.mark.parametrize("status", ["pending", "requires_action", "a_status_added_later"])
def test_a_refund_still_in_progress_is_ignored(status: str) -> None:
    body = stripe_event("refund.updated", refund_object(status))
    assert only(stripe_parser().parse(signed(body), body)).kind is WebhookEventKind.IGNORED


def test_a_canceled_refund_is_a_failure() -> None:
    body = stripe_event("refund.updated", refund_object("canceled"))
    assert only(stripe_parser().parse(signed(body), body)).kind is WebhookEventKind.REFUND_FAILED


def test_a_dispute_is_a_chargeback() -> None:
    dispute = {**stripe_sample("dispute"), "status": "needs_response"}
    body = stripe_event("charge.dispute.created", dispute)
    event = only(stripe_parser().parse(signed(body), body))
    assert event.kind is WebhookEventKind.CHARGEBACK
    assert (event.amount, event.currency, event.reason) == (1000, "USD", "general")
    assert event.payment_reference == "ch_1PgafuB7WZ01zgkWXYmPNZs8"
    assert event.dispute_reference == "dp_1Pgc71B7WZ01zgkWMevJiAUx"
    assert event.refund_id is None


def test_the_published_event_envelope_as_stripe_sends_it_is_read() -> None:
    # The sample unchanged (a plan.created event, api_version null): signed, read, ignored
    body = json.dumps(stripe_sample("event")).encode()
    event = only(stripe_parser().parse(signed(body), body))
    assert (event.event_id, event.event_type, event.kind) == (
        SAMPLE_EVENT_ID,
        "plan.created",
        WebhookEventKind.IGNORED,
    )


@pytest.mark.parametrize("event_type", ["charge.refunded", "charge.dispute.closed", "payout.paid"])
def test_other_event_types_are_ignored(event_type: str) -> None:
    body = stripe_event(event_type, {"id": "x", "object": "charge"})
    event = only(stripe_parser().parse(signed(body), body))
    assert (event.kind, event.event_type) == (WebhookEventKind.IGNORED, event_type)


def test_a_redelivered_event_keeps_its_id() -> None:
    body = stripe_event("refund.updated", refund_object())
    first = only(stripe_parser().parse(signed(body, timestamp=NOW), body))
    again = only(stripe_parser(now=NOW + 3600).parse(signed(body, timestamp=NOW + 3600), body))
    assert first.event_id == again.event_id


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        b'{"id": "evt_1"}',
        b'{"id": "evt_1", "type": "refund.updated", "data": {}}',
    ],
)
def test_a_signed_but_unreadable_body_is_a_payload_error(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        stripe_parser().parse(signed(body), body)


def test_a_stripe_parser_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        StripeWebhooks(())


# --- Adyen -------------------------------------------------------------------------------------

# Adyen's published test vector (Adyen's Python library, test/UtilTest.py): key, item, signature.
ADYEN_VECTOR_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
ADYEN_VECTOR_ITEM = {
    "pspReference": "7914073381342284",
    "merchantReference": "TestPayment-1407325143704",
    "merchantAccountCode": "TestMerchant",
    "amount": {"currency": "EUR", "value": 1130},
    "eventCode": "AUTHORISATION",
    "success": "true",
    "eventDate": "2019-05-06T17:15:34.121+02:00",
    "operations": ["CANCEL", "CAPTURE", "REFUND"],
    "paymentMethod": "visa",
}
ADYEN_VECTOR_SIGNATURE = "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="
# Adyen's vectors for special characters in merchantReference (same library, test/mocks/util).
ESCAPING_KEY = "74F490DD33F7327BAECC88B2947C011FC02D014A473AAA33A8EC93E4DC069174"
ESCAPING_VECTORS = [
    ("T7FD4VM4D3RZNN82", "\\\\slashes are fun", "nIgT81gaB5oJpn2jPXupDq68iRo2wUlBsuYjtYfwKqo="),
    ("M8NB66SBZSGLNK82", ":slashes are fun", "2EQYm7YJpKO4EtHSPu55SQTyWf8dkW5u2nD1tJFpViA="),
    ("X3GWNS6KJ8NKGK82", "//slashes are fun", "9Z0xdpG9Xi3zcmXv14t/BvMBut77O/Xq9D4CQXSDUi4="),
]
HMAC_KEY = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
MERCHANT = "TestMerchant"


def documented_signature(item: dict[str, Any], hex_key: str) -> str:
    """Adyen's rule, written out independently: eight fields joined by ':', empty if absent."""
    amount = item.get("amount", {})
    values = [
        item.get("pspReference"),
        item.get("originalReference"),
        item.get("merchantAccountCode"),
        item.get("merchantReference"),
        amount.get("value"),
        amount.get("currency"),
        item.get("eventCode"),
        item.get("success"),
    ]
    signing = ":".join("" if v is None else str(v) for v in values)
    mac = hmac.new(bytes.fromhex(hex_key), signing.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def adyen_item(event_code: str = "REFUND", success: str = "true", **fields: Any) -> dict[str, Any]:
    return {
        "additionalData": {},
        "amount": {"currency": "EUR", "value": 1000},
        "eventCode": event_code,
        "eventDate": "2024-01-01T01:00:00+01:00",
        "merchantAccountCode": "TestMerchant",
        "merchantReference": "txn_1-REFUND",
        "originalReference": "993617895204576J",
        "paymentMethod": "visa",
        "pspReference": "X6V9CT8PHJ7BC7X2",
        "reason": "",
        "success": success,
        **fields,
    }


def notification(*items: dict[str, Any], key: str = HMAC_KEY) -> bytes:
    wrapped = []
    for item in items:
        signed_item = copy.deepcopy(item)
        signed_item["additionalData"]["hmacSignature"] = documented_signature(item, key)
        wrapped.append({"NotificationRequestItem": signed_item})
    return json.dumps({"live": "false", "notificationItems": wrapped}).encode()


def adyen_parser(*keys: str) -> AdyenWebhooks:
    return AdyenWebhooks(keys or (HMAC_KEY,), MERCHANT)


def adyen_events(body: bytes, *keys: str) -> list[WebhookEvent]:
    events = adyen_parser(*keys).parse({}, body)
    assert all(isinstance(e, WebhookEvent) for e in events)
    return [e for e in events if isinstance(e, WebhookEvent)]


def test_adyen_signature_matches_adyens_published_vector() -> None:
    assert adyen_signature(ADYEN_VECTOR_ITEM, ADYEN_VECTOR_KEY) == ADYEN_VECTOR_SIGNATURE


def test_adyens_published_notification_verifies_and_is_ignored() -> None:
    item = {**ADYEN_VECTOR_ITEM, "additionalData": {"hmacSignature": ADYEN_VECTOR_SIGNATURE}}
    body = json.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": item}]})
    (event,) = adyen_events(body.encode(), ADYEN_VECTOR_KEY)
    assert (event.kind, event.event_type) == (WebhookEventKind.IGNORED, "AUTHORISATION")


@pytest.mark.parametrize(("psp", "reference", "expected"), ESCAPING_VECTORS)
def test_colons_and_backslashes_are_signed_unescaped(
    psp: str, reference: str, expected: str
) -> None:
    item = {
        "pspReference": psp,
        "merchantAccountCode": "AntoniStroinski",
        "merchantReference": reference,
        "amount": {"currency": "EUR", "value": 1000},
        "eventCode": "AUTHORISATION",
        "success": "true",
    }
    assert adyen_signature(item, ESCAPING_KEY) == expected


def test_a_successful_refund_notification() -> None:
    (event,) = adyen_events(notification(adyen_item("REFUND", "true")))
    assert event.kind is WebhookEventKind.REFUND_SUCCEEDED
    assert (event.processor, event.event_type) == ("adyen", "REFUND")
    assert (event.refund_id, event.transaction_id) == ("txn_1-REFUND", "txn_1")
    assert (event.amount, event.currency) == (1000, "EUR")
    assert event.payment_reference == "993617895204576J"
    assert event.result is not None
    assert (event.result.code, event.result.processor_reference) == (
        ProcessorCode.APPROVED,
        "X6V9CT8PHJ7BC7X2",
    )


def test_a_refused_refund_notification_is_a_failure_with_its_reason() -> None:
    item = adyen_item("REFUND", "false", reason="Insufficient balance on payment")
    (event,) = adyen_events(notification(item))
    assert event.kind is WebhookEventKind.REFUND_FAILED
    assert event.result is not None
    assert event.result.code is ProcessorCode.DECLINED
    assert event.result.processor_message == "Insufficient balance on payment"


def test_refund_failed_after_acceptance_is_a_failure() -> None:
    (event,) = adyen_events(notification(adyen_item("REFUND_FAILED")))
    assert event.kind is WebhookEventKind.REFUND_FAILED
    assert event.result is not None
    assert event.result.processor_code == "REFUND_FAILED"
    assert event.result.code is ProcessorCode.DECLINED  # success "true" is no approval here
    assert event.result.status is ProcessorStatus.FAILED


def test_refunded_reversed_is_a_reversal() -> None:
    (event,) = adyen_events(notification(adyen_item("REFUNDED_REVERSED")))
    assert event.kind is WebhookEventKind.REFUND_REVERSED
    assert event.refund_id == "txn_1-REFUND"
    assert event.result is not None and event.result.code is ProcessorCode.DECLINED


def test_a_chargeback_notice_moves_no_money_and_is_ignored() -> None:
    item = adyen_item("NOTIFICATION_OF_CHARGEBACK", pspReference="DISPUTE00000001")
    (event,) = adyen_events(notification(item))
    assert event.kind is WebhookEventKind.IGNORED


@pytest.mark.parametrize("event_code", ["CHARGEBACK"])
def test_an_opened_dispute_is_a_chargeback(event_code: str) -> None:
    item = adyen_item(
        event_code,
        merchantReference="order-77",
        pspReference="DISPUTE00000001",
        reason="Fraudulent transaction",
    )
    (event,) = adyen_events(notification(item))
    assert event.kind is WebhookEventKind.CHARGEBACK
    assert event.payment_reference == "993617895204576J"
    assert event.dispute_reference == "DISPUTE00000001"
    assert event.refund_id is None
    assert event.reason == "Fraudulent transaction"


@pytest.mark.parametrize(
    "event_code",
    [
        "AUTHORISATION",
        "CAPTURE",
        "REQUEST_FOR_INFORMATION",
        "NOTIFICATION_OF_FRAUD",
        "CANCEL_OR_REFUND",
        "PREARBITRATION_OPEN",
    ],
)
def test_other_event_codes_are_ignored(event_code: str) -> None:
    (event,) = adyen_events(notification(adyen_item(event_code)))
    assert event.kind is WebhookEventKind.IGNORED


def test_amounts_come_back_in_iso_units() -> None:
    item = adyen_item(amount={"currency": "IDR", "value": 15000})
    (event,) = adyen_events(notification(item))
    assert (event.amount, event.currency) == (1500000, "IDR")


def test_event_ids_are_stable_and_tell_outcomes_apart() -> None:
    (accepted,) = adyen_events(notification(adyen_item("REFUND", "true")))
    (again,) = adyen_events(notification(adyen_item("REFUND", "true")))
    (refused,) = adyen_events(notification(adyen_item("REFUND", "false")))
    assert accepted.event_id == again.event_id == "REFUND:X6V9CT8PHJ7BC7X2:true"
    assert refused.event_id != accepted.event_id


def test_every_item_of_a_batch_is_classified() -> None:
    body = notification(adyen_item("REFUND"), adyen_item("CHARGEBACK", pspReference="D2"))
    kinds = [e.kind for e in adyen_events(body)]
    assert kinds == [WebhookEventKind.REFUND_SUCCEEDED, WebhookEventKind.CHARGEBACK]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda i: i["amount"].update(value=100000),
        lambda i: i.update(success="true" if i["success"] == "false" else "false"),
        lambda i: i.update(merchantReference="txn_2-REFUND"),
        lambda i: i.update(eventCode="REFUND_FAILED"),
    ],
)
def test_a_tampered_item_is_rejected(tamper: Any) -> None:
    document = json.loads(notification(adyen_item()))
    tamper(document["notificationItems"][0]["NotificationRequestItem"])
    with pytest.raises(WebhookSignatureError):
        adyen_parser().parse({}, json.dumps(document).encode())


def test_one_bad_item_rejects_the_whole_batch() -> None:
    good = json.loads(notification(adyen_item()))["notificationItems"][0]
    bad = json.loads(notification(adyen_item(pspReference="P2"), key="AB" * 32))
    document = {"live": "false", "notificationItems": [good, *bad["notificationItems"]]}
    with pytest.raises(WebhookSignatureError):
        adyen_parser().parse({}, json.dumps(document).encode())


def test_an_item_without_signature_is_rejected() -> None:
    item = adyen_item()
    body = json.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": item}]})
    with pytest.raises(WebhookSignatureError, match="no hmacSignature"):
        adyen_parser().parse({}, body.encode())


def test_the_previous_hmac_key_still_verifies_during_rotation() -> None:
    new_key = "FEDCBA9876543210" * 4
    assert adyen_events(notification(adyen_item(), key=HMAC_KEY), new_key, HMAC_KEY)


@pytest.mark.parametrize(
    "body",
    [b"nope", b"{}", b'{"notificationItems": []}', b'{"notificationItems": [{"x": 1}]}'],
)
def test_unreadable_notifications_are_payload_errors(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        adyen_parser().parse({}, body)


def test_a_signed_item_without_event_fields_is_a_payload_error() -> None:
    body = notification(adyen_item(success="maybe"))
    with pytest.raises(WebhookPayloadError):
        adyen_parser().parse({}, body)


@pytest.mark.parametrize("keys", [(), ("not-hex",)])
def test_an_adyen_parser_needs_hex_keys(keys: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        AdyenWebhooks(keys, MERCHANT)


def test_an_adyen_parser_needs_the_merchant_account() -> None:
    with pytest.raises(ValueError, match="merchant account"):
        AdyenWebhooks((HMAC_KEY,), "")


# --- Adyen: only our merchant account -----------------------------------------------------------


class Counts:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


def resplit(body: bytes, **fields: Any) -> bytes:
    """The same signed item with some fields changed, its signature kept."""
    document = json.loads(body)
    document["notificationItems"][0]["NotificationRequestItem"].update(fields)
    return json.dumps(document).encode()


def test_an_item_for_another_merchant_account_is_never_acted_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a genuinely signed refund notification of another merchant account, batched with ours
    theirs = adyen_item("REFUND", merchantAccountCode="OtherShop", pspReference="P2")
    body = notification(adyen_item("REFUND"), theirs)
    counts = Counts()
    # When it is parsed
    events = AdyenWebhooks((HMAC_KEY,), MERCHANT, metrics=counts).parse({}, body)
    # Then only our item is an event; the other is logged and counted
    assert [e.result.processor_reference for e in events if e.result] == ["X6V9CT8PHJ7BC7X2"]
    assert counts.counts == {"WebhookForeignItems": 1}
    assert "another merchant account" in caplog.text


def test_a_resplit_signed_item_is_not_acted_on() -> None:
    # Given a genuine REFUNDED_REVERSED of ours whose merchantReference contains ':'
    genuine = adyen_item("REFUNDED_REVERSED", merchantReference="Promo:txn_1-REFUND")
    body = notification(genuine)
    # When the signing string is split again at that ':' (the reference's head joins the
    # merchant account, the tail names a refund of ours), the signature still holds
    attack = resplit(
        body, merchantAccountCode=f"{MERCHANT}:Promo", merchantReference="txn_1-REFUND"
    )
    item = json.loads(attack)["notificationItems"][0]["NotificationRequestItem"]
    assert documented_signature(item, HMAC_KEY) == item["additionalData"]["hmacSignature"]
    # Then neither is acted on: with ':' inside a signed field the signature fits both splits,
    # so it cannot say which one Adyen signed
    assert adyen_events(attack) == []
    assert adyen_events(body) == []


def test_no_resplit_of_another_accounts_item_reads_as_ours() -> None:
    # Given another account's genuine item: moving the boundary can only add a ':' to the
    # account name, so it never reads as ours
    genuine = adyen_item(
        "REFUNDED_REVERSED", merchantAccountCode="Test", merchantReference="Merchant:txn_1-REFUND"
    )
    attack = resplit(
        notification(genuine), merchantAccountCode="Test:Merchant", merchantReference="txn_1-REFUND"
    )
    assert adyen_events(attack) == []
