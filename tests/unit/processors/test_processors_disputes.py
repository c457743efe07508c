"""Dispute events on the vendors' own published samples, onto the domain's dispute kinds."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from refund_service.adapters.processors.webhooks_adyen import AdyenWebhooks
from refund_service.domain.processor import WebhookEvent, WebhookEventKind
from tests.unit.processors.test_processors_webhooks import (
    HMAC_KEY,
    documented_signature,
    signed,
    stripe_event,
    stripe_parser,
)

FIXTURES = Path(__file__).parent / "fixtures"
STRIPE_DISPUTE: dict[str, Any] = json.loads((FIXTURES / "stripe_objects.json").read_text())[
    "dispute"
]
ADYEN_ITEMS: dict[str, dict[str, Any]] = json.loads(
    (FIXTURES / "adyen_dispute_items.json").read_text()
)
ADYEN_MERCHANT = "YOUR_MERCHANT_ACCOUNT"  # as in Adyen's samples

# --- Stripe ------------------------------------------------------------------------------------


def stripe_dispute_event(event_type: str, **fields: Any) -> WebhookEvent:
    body = stripe_event(event_type, {**STRIPE_DISPUTE, **fields})
    (event,) = stripe_parser().parse(signed(body), body)
    return event


@pytest.mark.parametrize("event_type", ["charge.dispute.created", "charge.dispute.funds_withdrawn"])
def test_an_opened_or_withdrawn_dispute_is_a_chargeback(event_type: str) -> None:
    event = stripe_dispute_event(event_type, status="needs_response")
    assert event.kind is WebhookEventKind.CHARGEBACK
    assert event.dispute_reference == "dp_1Pgc71B7WZ01zgkWMevJiAUx"
    assert (event.amount, event.currency, event.reason) == (1000, "USD", "general")
    # payment_intent is null in the sample: the charge names the payment
    assert event.payment_reference == "ch_1PgafuB7WZ01zgkWXYmPNZs8"


@pytest.mark.parametrize("status", ["warning_needs_response", "warning_under_review"])
def test_an_inquiry_moves_no_money_and_books_nothing(status: str) -> None:
    assert stripe_dispute_event("charge.dispute.created", status=status).kind is (
        WebhookEventKind.IGNORED
    )
    withdrawn = stripe_dispute_event("charge.dispute.funds_withdrawn", status=status)
    assert withdrawn.kind is WebhookEventKind.CHARGEBACK  # money moved, whatever the stage


def test_the_payment_intent_names_the_payment_when_present() -> None:
    event = stripe_dispute_event("charge.dispute.created", payment_intent="pi_3Pgaf")
    assert event.payment_reference == "pi_3Pgaf"


def test_reinstated_funds_are_a_won_dispute() -> None:
    event = stripe_dispute_event("charge.dispute.funds_reinstated", status="won")
    assert event.kind is WebhookEventKind.CHARGEBACK_WON
    assert event.dispute_reference == "dp_1Pgc71B7WZ01zgkWMevJiAUx"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("won", WebhookEventKind.CHARGEBACK_WON),
        ("lost", WebhookEventKind.CHARGEBACK_LOST),
        ("warning_closed", WebhookEventKind.IGNORED),
        ("under_review", WebhookEventKind.IGNORED),
    ],
)
def test_a_closed_dispute_follows_its_final_status(status: str, kind: WebhookEventKind) -> None:
    event = stripe_dispute_event("charge.dispute.closed", status=status)
    assert event.kind is kind
    assert event.dispute_reference == "dp_1Pgc71B7WZ01zgkWMevJiAUx"


def test_every_event_of_one_dispute_shares_its_reference() -> None:
    events = (
        stripe_dispute_event("charge.dispute.created"),
        stripe_dispute_event("charge.dispute.funds_withdrawn", status="needs_response"),
        stripe_dispute_event("charge.dispute.closed", status="lost"),
    )
    assert {event.dispute_reference for event in events} == {STRIPE_DISPUTE["id"]}


# Every dispute status of API version 2026-10-28.endive: the kind of a `created` event and of a
# `closed` event carrying it (test_processors_sdk_oracles holds this list to the pinned SDK's).
DISPUTE_STATUS_KINDS: dict[str, tuple[WebhookEventKind, WebhookEventKind]] = {
    "warning_needs_response": (WebhookEventKind.IGNORED, WebhookEventKind.IGNORED),
    "warning_under_review": (WebhookEventKind.IGNORED, WebhookEventKind.IGNORED),
    "warning_closed": (WebhookEventKind.IGNORED, WebhookEventKind.IGNORED),
    "prevented": (WebhookEventKind.IGNORED, WebhookEventKind.IGNORED),
    "needs_response": (WebhookEventKind.CHARGEBACK, WebhookEventKind.IGNORED),
    "under_review": (WebhookEventKind.CHARGEBACK, WebhookEventKind.IGNORED),
    "appeal_needs_response": (WebhookEventKind.CHARGEBACK, WebhookEventKind.IGNORED),
    "appeal_under_review": (WebhookEventKind.CHARGEBACK, WebhookEventKind.IGNORED),
    "won": (WebhookEventKind.CHARGEBACK, WebhookEventKind.CHARGEBACK_WON),
    "lost": (WebhookEventKind.CHARGEBACK, WebhookEventKind.CHARGEBACK_LOST),
}


@pytest.mark.parametrize("status", sorted(DISPUTE_STATUS_KINDS))
def test_every_dispute_status_of_the_version_has_its_kind(status: str) -> None:
    on_created, on_closed = DISPUTE_STATUS_KINDS[status]
    assert stripe_dispute_event("charge.dispute.created", status=status).kind is on_created
    assert stripe_dispute_event("charge.dispute.closed", status=status).kind is on_closed
    withdrawn = stripe_dispute_event("charge.dispute.funds_withdrawn", status=status)
    assert withdrawn.kind is WebhookEventKind.CHARGEBACK  # money moved, whatever the status
    # funds back on a dispute not won is a partial return, never a win of the whole
    reinstated = stripe_dispute_event("charge.dispute.funds_reinstated", status=status)
    won = WebhookEventKind.CHARGEBACK_WON if status == "won" else WebhookEventKind.IGNORED
    assert reinstated.kind is won


@pytest.mark.parametrize("case_type", ["block", "resolution"])
def test_a_prevented_dispute_books_no_chargeback(case_type: str) -> None:
    # Blocked or resolved before the network raised it: no dispute funds move; a resolution
    # refunds the payment, which arrives as a refund
    details = STRIPE_DISPUTE["payment_method_details"]
    card = {**details["card"], "case_type": case_type}
    event = stripe_dispute_event(
        "charge.dispute.created",
        status="prevented",
        payment_method_details={**details, "card": card},
    )
    assert event.kind is WebhookEventKind.IGNORED
    assert event.dispute_reference == "dp_1Pgc71B7WZ01zgkWMevJiAUx"


@pytest.mark.parametrize("status", ["a_status_added_later", "", "WON"])
def test_a_closed_dispute_of_unknown_status_is_never_read_as_won(status: str) -> None:
    assert stripe_dispute_event("charge.dispute.closed", status=status).kind is (
        WebhookEventKind.IGNORED
    )


def test_the_published_dispute_as_it_is_is_an_inquiry_and_books_nothing() -> None:
    # The sample unchanged: warning_needs_response, case_type inquiry
    assert stripe_dispute_event("charge.dispute.created").kind is WebhookEventKind.IGNORED


def test_dispute_updates_are_ignored() -> None:
    event = stripe_dispute_event("charge.dispute.updated", status="under_review")
    assert event.kind is WebhookEventKind.IGNORED


# --- Adyen -------------------------------------------------------------------------------------


def adyen_sample(event_code: str, **fields: Any) -> WebhookEvent:
    item = {**copy.deepcopy(ADYEN_ITEMS[event_code]), **fields}
    additional = item.setdefault("additionalData", {})
    additional["hmacSignature"] = documented_signature(item, HMAC_KEY)
    body = json.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": item}]})
    (event,) = AdyenWebhooks((HMAC_KEY,), ADYEN_MERCHANT).parse({}, body.encode())
    return event


FIRST_ROUND = "QFQTPCQ8HXSKGK82"  # the samples' dispute pspReference


@pytest.mark.parametrize(
    ("event_code", "kind", "reference"),
    [
        ("CHARGEBACK", WebhookEventKind.CHARGEBACK, FIRST_ROUND),
        ("CHARGEBACK_REVERSED", WebhookEventKind.CHARGEBACK_WON, FIRST_ROUND),
        ("SECOND_CHARGEBACK", WebhookEventKind.CHARGEBACK, FIRST_ROUND + "-SECOND"),
        ("PREARBITRATION_WON", WebhookEventKind.CHARGEBACK_WON, FIRST_ROUND + "-SECOND"),
        ("PREARBITRATION_LOST", WebhookEventKind.CHARGEBACK_LOST, FIRST_ROUND + "-SECOND"),
    ],
)
def test_adyen_dispute_stages_map_onto_dispute_kinds(
    event_code: str, kind: WebhookEventKind, reference: str
) -> None:
    event = adyen_sample(event_code)
    assert (event.kind, event.dispute_reference) == (kind, reference)
    assert (event.amount, event.currency) == (1000, "EUR")
    assert event.refund_id is None


def test_the_notice_of_a_coming_chargeback_books_nothing() -> None:
    assert adyen_sample("NOTIFICATION_OF_CHARGEBACK").kind is WebhookEventKind.IGNORED


def test_the_second_chargeback_is_a_new_booking_with_its_own_reference() -> None:
    first = adyen_sample("CHARGEBACK").dispute_reference
    second = adyen_sample("SECOND_CHARGEBACK").dispute_reference
    assert first and second and first != second
    assert ":" not in second
    assert second.startswith(first)


def test_a_chargeback_names_the_disputed_payment() -> None:
    event = adyen_sample("CHARGEBACK")
    assert event.payment_reference == "9913140798220028"
    assert event.reason == "Payment.TxId=300000000524534724 dispute"


def test_a_dispute_stage_that_did_not_happen_is_ignored() -> None:
    assert adyen_sample("CHARGEBACK", success="false").kind is WebhookEventKind.IGNORED


def test_refunded_reversed_sample_is_a_refund_reversal() -> None:
    event = adyen_sample("REFUNDED_REVERSED")
    assert event.kind is WebhookEventKind.REFUND_REVERSED
    assert event.refund_id == "YOUR_MERCHANT_REFERENCE"
    assert event.dispute_reference is None
