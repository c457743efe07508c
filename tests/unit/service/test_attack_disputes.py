"""Attacks on disputes as facts (SPEC 3.1): while a chargeback stands nothing is refundable,
and every dispute stage the processor reports is booked once, in whatever order it arrives."""

from __future__ import annotations

from typing import Any

import pytest

from refund_service.adapters.processors.webhooks_adyen import classify_item
from refund_service.adapters.processors.webhooks_stripe import classify_event
from refund_service.domain.chargeback import DisputeOutcome
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.ledger import EntryType, PaymentStatus
from refund_service.domain.processor import WebhookEvent
from refund_service.service.payments import (
    ChargebackCommand,
    complete_payment,
    record_chargeback,
    resolve_chargeback,
)
from refund_service.service.webhooks import handle_event
from tests.support.world import USER, World
from tests.unit.service.test_processor_agreement import InMemoryLog, refund


def assert_refund_refused(world: World, tid: str) -> None:
    paid_before = dict(world.memory.payments())
    with pytest.raises(DomainError) as refused:
        refund(world, tid, 1_000)
    assert refused.value.code is ErrorCode.CHARGEBACK_CONFLICT
    assert world.memory.payments() == paid_before


def test_winning_one_of_two_disputes_lets_refunds_through_while_the_other_stands(
    world: World,
) -> None:
    # Given two disputes on one payment: the first for all of it, the second for half
    tid = world.pay(amount=10_000)
    record_chargeback(world.services, ChargebackCommand(tid, chargeback_id="dp_a"), USER)
    second = record_chargeback(
        world.services, ChargebackCommand(tid, 5_000, chargeback_id="dp_b"), USER
    )
    # When the merchant wins the first
    won = resolve_chargeback(world.services, tid, "dp_a", DisputeOutcome.WON, USER)
    # Then the second still stands: its 5,000 stay charged back and nothing is refundable
    assert won.state.head.chargebacks["dp_b"].status.value == "open"
    assert_refund_refused(world, tid)
    assert won.state.summary.chargeback_amount == 5_000, second.chargeback


def adyen(event_code: str, psp: str = "DSP1", payment: str = "PAY1") -> WebhookEvent:
    return classify_item(
        {
            "eventCode": event_code,
            "pspReference": psp,
            "originalReference": payment,
            "merchantAccountCode": "Shop",
            "merchantReference": "order-1",
            "amount": {"value": 10_000, "currency": "USD"},
            "success": "true",
        }
    )


def test_adyen_second_chargeback_before_the_first_reversal_books_nothing(world: World) -> None:
    # Given a payment charged back (first round), won, then charged back again (second round):
    # at the processor the amount is withdrawn
    tid = world.pay(amount=10_000, processor_reference="PAY1")
    log = InMemoryLog()
    handle_event(world.services, log, adyen("CHARGEBACK"))
    # When SECOND_CHARGEBACK arrives before CHARGEBACK_REVERSED (Adyen does not order them)
    handle_event(world.services, log, adyen("SECOND_CHARGEBACK"))
    handle_event(world.services, log, adyen("CHARGEBACK_REVERSED"))
    # Then the second chargeback stands in the ledger, and refunds are refused
    assert_refund_refused(world, tid)
    assert world.store.load(tid).summary.chargeback_amount == 10_000


def stripe_dispute(event_id: str, event_type: str, status: str) -> WebhookEvent:
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "amount": 10_000,
        "currency": "usd",
        "status": status,
        "payment_intent": "pi_1",
        "reason": "fraudulent",
    }
    return classify_event({"id": event_id, "type": event_type, "data": {"object": dispute}})


def test_a_stripe_dispute_won_before_its_opening_arrives_stands_for_ever(world: World) -> None:
    # Given a dispute opened and then won at Stripe: the funds are back with the merchant
    tid = world.pay(amount=10_000, processor_reference="pi_1")
    opened = stripe_dispute("evt_1", "charge.dispute.funds_withdrawn", "needs_response")
    won = stripe_dispute("evt_2", "charge.dispute.closed", "won")
    # When the closing event is delivered before the opening one
    log = InMemoryLog()
    handle_event(world.services, log, won)
    handle_event(world.services, log, opened)
    # Then the ledger ends where Stripe ended: nothing charged back, the payment refundable
    state = world.store.load(tid)
    assert state.summary.chargeback_amount == 0, [e.type for e in state.entries]
    assert state.summary.refundable_amount == 10_000


def test_a_stripe_dispute_lost_whose_opening_was_missed_is_never_booked(world: World) -> None:
    # Given a dispute Stripe opened and withdrew funds for while our endpoint was down (both
    # events given up after Stripe's retries), and which the merchant then lost
    tid = world.pay(amount=10_000, processor_reference="pi_1")
    lost = stripe_dispute("evt_3", "charge.dispute.closed", "lost")
    # When the closing event is the first one delivered
    handle_event(world.services, InMemoryLog(), lost)
    # Then the chargeback is booked (a lost dispute stands) and refunds are refused
    assert_refund_refused(world, tid)


def test_a_dispute_on_a_payment_the_ledger_still_has_pending_is_dropped(world: World) -> None:
    # Given a payment the processor captured but the ledger records as pending still
    tid = world.pay(amount=10_000, status=PaymentStatus.PENDING, processor_reference="pi_1")
    # When the processor reports a chargeback on it, and the capture is recorded afterwards
    opened = stripe_dispute("evt_1", "charge.dispute.created", "needs_response")
    handle_event(world.services, InMemoryLog(), opened)
    complete_payment(world.services, tid, USER)
    # Then the chargeback is booked (or kept and booked at capture): refunds are refused
    state = world.store.load(tid)
    assert [e.type for e in state.entries].count(EntryType.CHARGEBACK) == 1
    assert_refund_refused(world, tid)


def test_an_adyen_dispute_closed_at_its_notice_stage_leaves_a_chargeback_for_ever(
    world: World,
) -> None:
    # Given Adyen's notice that a chargeback is incoming (no funds deducted yet: that is
    # CHARGEBACK), then the issuer accepting the defence: the dispute ends, nothing moved
    tid = world.pay(amount=10_000, processor_reference="PAY1")
    log = InMemoryLog()
    handle_event(world.services, log, adyen("NOTIFICATION_OF_CHARGEBACK"))
    handle_event(world.services, log, adyen("ISSUER_RESPONSE_TIMEFRAME_EXPIRED"))
    # Then nothing stands charged back and the payment is refundable
    state: Any = world.store.load(tid)
    assert state.summary.chargeback_amount == 0
    assert state.summary.refundable_amount == 10_000


def test_a_stripe_dispute_on_a_payment_recorded_by_its_charge_id_is_dropped(world: World) -> None:
    # Given a payment recorded with its Stripe charge id (a valid refund target: ch_...)
    tid = world.pay(amount=10_000, processor_reference="ch_1")
    # When Stripe reports a dispute on that charge; the dispute names the charge and, as
    # for every PaymentIntent payment, its PaymentIntent too
    dispute = {
        "id": "dp_9",
        "object": "dispute",
        "amount": 10_000,
        "currency": "usd",
        "status": "needs_response",
        "charge": "ch_1",
        "payment_intent": "pi_1",
        "reason": "fraudulent",
    }
    event = classify_event(
        {"id": "evt_9", "type": "charge.dispute.created", "data": {"object": dispute}}
    )
    handle_event(world.services, InMemoryLog(), event)
    # Then the chargeback is booked on the payment, and refunds are refused
    assert_refund_refused(world, tid)
