"""Our webhook signature checks, and the Stripe API version we read, against the vendors' own
SDKs (test-only dependencies).

The runtime never imports either SDK (decision 0010); here they sign and verify as the vendors
do, so a mistake shared by our code and our hand-written test signatures would still show. The
pinned `stripe` SDK is generated from the API version we send (`Stripe-Version`): its types say
which fields and dispute statuses that version has, and the published samples and our status
tables are held to them.
"""

from __future__ import annotations

import copy
import json
import typing
from typing import Any
from urllib.parse import parse_qs

import pytest
import stripe
from Adyen import util as adyen_util

from refund_service.adapters.processors import simulated_webhook, webhooks_stripe
from refund_service.adapters.processors import stripe as stripe_adapter
from refund_service.adapters.processors.credentials import STRIPE_API_VERSION
from refund_service.adapters.processors.webhooks import WebhookSignatureError
from refund_service.adapters.processors.webhooks_adyen import AdyenWebhooks, adyen_signature
from refund_service.adapters.processors.webhooks_stripe import StripeWebhooks
from refund_service.domain.processor import WebhookEventKind
from tests.unit.processors.test_processors_disputes import (
    ADYEN_ITEMS,
    ADYEN_MERCHANT,
    DISPUTE_STATUS_KINDS,
)
from tests.unit.processors.test_processors_stripe import refund_object, stripe_sample
from tests.unit.processors.test_processors_stripe import request as refund_request
from tests.unit.processors.test_processors_webhooks import ESCAPING_KEY, HMAC_KEY, stripe_event

STRIPE_SECRET = "whsec_oracle"
NOW = 1_800_000_000

# --- Stripe ------------------------------------------------------------------------------------


def stripe_sdk_header(body: bytes, secret: str = STRIPE_SECRET, timestamp: int = NOW) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )


def stripe_parse(body: bytes, header: str) -> list[Any]:
    parser = StripeWebhooks((STRIPE_SECRET,), clock=lambda: NOW)
    return parser.parse({"Stripe-Signature": header}, body)


def test_a_body_signed_by_stripes_sdk_is_accepted() -> None:
    body = stripe_event("refund.updated", refund_object("succeeded"))
    (event,) = stripe_parse(body, stripe_sdk_header(body))
    assert event.kind is WebhookEventKind.REFUND_SUCCEEDED


def test_the_sdk_accepts_what_it_signed_and_so_do_we_with_non_ascii_bodies() -> None:
    body = stripe_event("refund.updated", refund_object("succeeded", description="Überweisung"))
    body = body.replace(b"\\u00dc", "Ü".encode())  # raw UTF-8, as Stripe sends it
    header = stripe_sdk_header(body)
    stripe.WebhookSignature.verify_header(body.decode(), header, STRIPE_SECRET, tolerance=None)
    assert stripe_parse(body, header)


@pytest.mark.parametrize("tamper", ["body", "secret", "timestamp"])
def test_what_the_sdk_signed_then_tampered_is_refused(tamper: str) -> None:
    body = stripe_event("refund.updated", refund_object("succeeded"))
    header = stripe_sdk_header(body, "whsec_other" if tamper == "secret" else STRIPE_SECRET)
    if tamper == "body":
        body = body.replace(b'"amount": 100,', b'"amount": 900,')
    if tamper == "timestamp":
        header = header.replace(f"t={NOW}", f"t={NOW + 1}")
    with pytest.raises(WebhookSignatureError):
        stripe_parse(body, header)


def test_the_simulated_processor_signs_exactly_as_stripe_does() -> None:
    body = simulated_webhook.event_body(
        refund_id="txn_1-REFUND",
        transaction_id="txn_1",
        amount=100,
        currency="EUR",
        code="APPROVED",
        reference="sim_1",
        created=NOW,
    )
    ours = simulated_webhook.signature_header(STRIPE_SECRET, NOW, body)
    assert ours == stripe_sdk_header(body)


# --- Stripe: the API version's shapes -----------------------------------------------------------

# The fields each adapter reads, per object (stripe.py, webhooks_stripe.py).
FIELDS_READ = {
    "refund": {"id", "object", "status", "failure_reason", "pending_reason", "metadata", "amount"}
    | {"currency", "created", "payment_intent", "charge"},
    "dispute": {"id", "status", "amount", "currency", "reason", "metadata", "payment_intent"}
    | {"charge"},
    "event": {"id", "type", "data"},
}
SDK_TYPES = {"refund": stripe.Refund, "dispute": stripe.Dispute, "event": stripe.Event}


def declared_fields(sdk_type: type) -> set[str]:
    """The fields an SDK resource declares for its API version (its class annotations)."""
    names: set[str] = set()
    for cls in sdk_type.__mro__:
        names.update(getattr(cls, "__annotations__", {}))
    return {name for name in names if not name.startswith("_") and not name.isupper()}


def literal_values(annotation: Any) -> set[str]:
    """The string values an annotation such as Union[Literal['a', 'b'], str] names."""
    if typing.get_origin(annotation) is typing.Literal:
        return set(typing.get_args(annotation))
    return set().union(*(literal_values(arg) for arg in typing.get_args(annotation)))


def test_the_pinned_sdk_speaks_the_api_version_we_send() -> None:
    assert stripe.api_version == STRIPE_API_VERSION


@pytest.mark.parametrize("name", sorted(SDK_TYPES))
def test_the_published_samples_have_only_fields_of_our_version(name: str) -> None:
    assert set(stripe_sample(name)) <= declared_fields(SDK_TYPES[name])


@pytest.mark.parametrize("name", sorted(SDK_TYPES))
def test_every_field_we_read_exists_in_our_version(name: str) -> None:
    assert FIELDS_READ[name] <= declared_fields(SDK_TYPES[name])


def test_the_event_data_we_read_exists_in_our_version() -> None:
    assert {"object", "previous_attributes"} <= declared_fields(stripe.Event.Data)


def test_every_dispute_status_of_our_version_has_a_reviewed_kind() -> None:
    statuses = literal_values(stripe.Dispute.__annotations__["status"])
    assert "prevented" in statuses  # the parsing above found the enum
    assert statuses == set(DISPUTE_STATUS_KINDS)


def test_the_event_types_we_act_on_exist_in_our_version() -> None:
    ours = webhooks_stripe.REFUND_EVENTS | webhooks_stripe.DISPUTE_OPENED_EVENTS
    ours |= webhooks_stripe.DISPUTE_WON_EVENTS | {webhooks_stripe.DISPUTE_CLOSED}
    assert ours <= literal_values(stripe.Event.__annotations__["type"])


def test_the_parameters_we_send_exist_in_our_version() -> None:
    sent = parse_qs(stripe_adapter.refund_form(refund_request()).decode())
    assert {name.split("[")[0] for name in sent} <= set(
        stripe.params.RefundCreateParams.__annotations__
    )
    # refund lists: by payment, by creation window (created[gte], created[lt]), paged
    listed = {"payment_intent", "charge", "created", "limit", "starting_after"}
    assert listed <= set(stripe.params.RefundListParams.__annotations__)
    assert {"gte", "lt"} <= set(stripe.params.RefundListParamsCreated.__annotations__)


# --- Adyen -------------------------------------------------------------------------------------


def sdk_signed(item: dict[str, Any], key: str = HMAC_KEY) -> dict[str, Any]:
    signed = copy.deepcopy(item)
    signed.pop("additionalData", None)
    signature = adyen_util.generate_notification_sig(signed, key).decode()
    signed["additionalData"] = {**item.get("additionalData", {}), "hmacSignature": signature}
    return signed


def adyen_parse(*items: dict[str, Any]) -> list[Any]:
    wrapped = [{"NotificationRequestItem": item} for item in items]
    body = json.dumps({"live": "false", "notificationItems": wrapped}).encode()
    return AdyenWebhooks((HMAC_KEY,), ADYEN_MERCHANT).parse({}, body)


@pytest.mark.parametrize("event_code", sorted(ADYEN_ITEMS))
def test_adyen_samples_signed_by_adyens_sdk_are_accepted(event_code: str) -> None:
    item = sdk_signed(ADYEN_ITEMS[event_code])
    assert adyen_util.is_valid_hmac_notification(item, HMAC_KEY)
    (event,) = adyen_parse(item)
    assert event.event_type == event_code


@pytest.mark.parametrize("event_code", sorted(ADYEN_ITEMS))
def test_adyens_sdk_validates_our_signature(event_code: str) -> None:
    item = copy.deepcopy(ADYEN_ITEMS[event_code])
    item["additionalData"] = {"hmacSignature": adyen_signature(item, HMAC_KEY)}
    assert adyen_util.is_valid_hmac_notification(item, HMAC_KEY)


@pytest.mark.parametrize("reference", [":slashes are fun", "\\\\slashes", "a:b\\c", "ünï:cödé"])
def test_special_characters_agree_with_adyens_sdk(reference: str) -> None:
    item = {**ADYEN_ITEMS["REFUNDED_REVERSED"], "merchantReference": reference}
    expected = adyen_util.generate_notification_sig(item, ESCAPING_KEY).decode()
    assert adyen_signature(item, ESCAPING_KEY) == expected


@pytest.mark.parametrize(
    "tamper",
    [
        lambda i: i["amount"].update(value=1),
        lambda i: i.update(eventCode="CHARGEBACK_REVERSED"),
        lambda i: i.update(pspReference="QFQTPCQ8HXSKGK83"),
        lambda i: i.update(merchantReference="txn_2-REFUND"),
    ],
)
def test_sdk_signed_items_tampered_afterwards_are_refused(tamper: Any) -> None:
    item = sdk_signed(ADYEN_ITEMS["CHARGEBACK"])
    tamper(item)
    assert not adyen_util.is_valid_hmac_notification(item, HMAC_KEY)
    with pytest.raises(WebhookSignatureError):
        adyen_parse(item)
