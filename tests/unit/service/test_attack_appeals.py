"""Attacks on the appeal rule (SPEC 3.1, docs/processors.md): a dispute the processor reports
won after it was lost books CHARGEBACK_REVERSAL, once, and only for money the processor
returned. Each test replays processor events in an order or a shape the processor can send."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from refund_service.adapters.processors.webhooks_adyen import classify_item
from refund_service.adapters.processors.webhooks_stripe import classify_event
from refund_service.domain.audit import AuditAction
from refund_service.domain.chargeback import ChargebackStatus, DisputeOutcome
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.ledger import EntryType
from refund_service.domain.processor import (
    ProcessorCode,
    WebhookEvent,
    WebhookEventKind,
    normalized,
)
from refund_service.domain.summary import invariant_violations
from refund_service.service.payments import (
    ChargebackCommand,
    record_chargeback,
    resolve_chargeback,
)
from refund_service.service.ports import Change, TransactionState
from refund_service.service.queries import get_audit
from refund_service.service.webhooks import WebhookOutcome, handle_event
from tests.support.world import USER, World
from tests.unit.api.conftest import runtime_for, sender
from tests.unit.service.test_processor_agreement import (
    InMemoryLog,
    assert_verified,
    refund,
    told,
)


def stripe_dispute(
    event_id: str, event_type: str, status: str, *, reinstated: int = 0
) -> WebhookEvent:
    """A Stripe dispute event on pi_1 for the whole 10,000; `reinstated`: the balance
    transaction returning funds (what Stripe paid back, which need not be the whole)."""
    movements: list[dict[str, Any]] = [{"amount": -10_000, "reporting_category": "dispute"}]
    if reinstated:
        movements.append({"amount": reinstated, "reporting_category": "dispute_reversal"})
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "amount": 10_000,
        "currency": "usd",
        "status": status,
        "payment_intent": "pi_1",
        "reason": "product_not_received",
        "balance_transactions": movements,
    }
    return classify_event({"id": event_id, "type": event_type, "data": {"object": dispute}})


def reversals(world: World, tid: str) -> int:
    entries = world.store.load(tid).entries
    return sum(1 for e in entries if e.type is EntryType.CHARGEBACK_REVERSAL)


def deliver(world: World, log: InMemoryLog, *events: WebhookEvent) -> list[WebhookOutcome]:
    return [handle_event(world.services, log, event).outcome for event in events]


# --- money the processor did not return -----------------------------------------------------


def test_a_stripe_partial_win_after_the_loss_books_no_reversal_of_the_whole(
    world: World,
) -> None:
    # Given a payment of 10,000, 3,000 of it refunded, then disputed for the whole amount
    tid = world.pay(amount=10_000, processor_reference="pi_1")
    refund(world, tid, 3_000)
    log = InMemoryLog()
    deliver(world, log, stripe_dispute("evt_w", "charge.dispute.funds_withdrawn", "under_review"))
    # When the dispute closes lost and Stripe reinstates only the refunded 3,000 ("partially
    # won" in the Dashboard; the dispute's status stays lost)
    deliver(
        world,
        log,
        stripe_dispute("evt_c", "charge.dispute.closed", "lost"),
        stripe_dispute("evt_r", "charge.dispute.funds_reinstated", "lost", reinstated=3_000),
    )
    # Then the customer still holds 10,000 (3,000 refunded, 7,000 by the chargeback): nothing
    # is refundable and no reversal gives the 7,000 back to the merchant
    summary = world.store.load(tid).summary
    assert (reversals(world, tid), summary.refundable_amount) == (0, 0), summary
    with pytest.raises(DomainError):
        refund(world, tid, 7_000)


def test_a_stripe_partial_win_reinstated_before_the_closing_books_no_reversal_of_the_whole(
    world: World,
) -> None:
    tid = world.pay(amount=10_000, processor_reference="pi_1")
    refund(world, tid, 3_000)
    log = InMemoryLog()
    deliver(
        world,
        log,
        stripe_dispute("evt_w", "charge.dispute.funds_withdrawn", "under_review"),
        stripe_dispute("evt_r", "charge.dispute.funds_reinstated", "lost", reinstated=3_000),
        stripe_dispute("evt_c", "charge.dispute.closed", "lost"),
    )
    summary = world.store.load(tid).summary
    assert (reversals(world, tid), summary.refundable_amount) == (0, 0), summary


# --- a genuine appeal, in any order and more than once ----------------------------------------

APPEAL = (
    ("evt_w", "charge.dispute.funds_withdrawn", "needs_response"),
    ("evt_l", "charge.dispute.closed", "lost"),
    ("evt_r", "charge.dispute.funds_reinstated", "won"),
    ("evt_c", "charge.dispute.closed", "won"),
)


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(APPEAL)))))
def test_a_stripe_appeal_delivered_in_any_order_ends_won_with_at_most_one_reversal(
    world: World, order: tuple[int, ...]
) -> None:
    # Given a payment whose dispute was lost, then won on appeal at Stripe
    tid = world.pay(amount=10_000, processor_reference="pi_1")
    events = [stripe_dispute(*APPEAL[i]) for i in order]
    # When its four events arrive in this order, each delivered twice, the copy under a new id
    log = InMemoryLog()
    for event in events:
        copy = replace(event, event_id=f"{event.event_id}-copy")
        deliver(world, log, event, copy)
    # Then Stripe holds nothing back and neither does the ledger
    state = world.store.load(tid)
    assert state.head.chargebacks["dp_1"].status is ChargebackStatus.WON
    assert reversals(world, tid) <= 1
    assert (state.summary.chargeback_amount, state.summary.refundable_amount) == (0, 10_000)
    assert invariant_violations(state.summary) == []
    assert_verified(world, tid)


class InterleavingStore:
    """The ledger store, with something committed by another writer just before the first
    commit of this one: two deliveries racing on one transaction."""

    def __init__(self, inner: Any, meanwhile: Callable[[], None]):
        self.inner = inner
        self.meanwhile: Callable[[], None] | None = meanwhile

    def commit(self, change: Change) -> None:
        meanwhile, self.meanwhile = self.meanwhile, None
        if meanwhile is not None:
            meanwhile()
        self.inner.commit(change)

    def load(self, transaction_id: str) -> TransactionState:
        return self.inner.load(transaction_id)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_funds_reinstated_and_closed_won_racing_after_a_loss_book_one_reversal(
    world: World,
) -> None:
    # Given a dispute lost at Stripe
    tid = world.pay(amount=10_000, processor_reference="pi_1")
    log, other_log = InMemoryLog(), InMemoryLog()
    deliver(
        world,
        log,
        stripe_dispute("evt_w", "charge.dispute.funds_withdrawn", "needs_response"),
        stripe_dispute("evt_l", "charge.dispute.closed", "lost"),
    )
    real_store = world.store
    reinstated = stripe_dispute("evt_r", "charge.dispute.funds_reinstated", "won")
    closed_won = stripe_dispute("evt_c", "charge.dispute.closed", "won")

    def other_delivery() -> None:
        world.services.store = real_store
        deliver(world, other_log, closed_won)

    # When the appeal's two events are handled at once by two functions (the closing commits
    # between the other's read and its write)
    world.services.store = InterleavingStore(real_store, other_delivery)  # type: ignore[assignment]
    try:
        outcomes = deliver(world, log, reinstated)
    finally:
        world.services.store = real_store
    # Then one reversal is booked, the loser of the race finds the dispute won
    assert outcomes == [WebhookOutcome.UNCHANGED]
    assert reversals(world, tid) == 1
    assert world.store.load(tid).summary.chargeback_amount == 0
    assert_verified(world, tid)


# --- the appeal and other disputes on the payment ---------------------------------------------


def test_an_appeal_won_tops_up_a_standing_dispute_and_never_books_past_the_captured(
    world: World,
) -> None:
    # Given a dispute for the whole payment lost, and a second for half of it opened while the
    # first held the whole amount (booked nothing), then also lost
    tid = world.pay(amount=10_000)
    log = InMemoryLog()
    told(world, log, tid, "e1", WebhookEventKind.CHARGEBACK, "dp_a")
    told(world, log, tid, "e2", WebhookEventKind.CHARGEBACK_LOST, "dp_a")
    told(world, log, tid, "e3", WebhookEventKind.CHARGEBACK, "dp_b", 5_000)
    told(world, log, tid, "e4", WebhookEventKind.CHARGEBACK_LOST, "dp_b", 5_000)
    # When the first is won on appeal, and its win is told again later
    told(world, log, tid, "e5", WebhookEventKind.CHARGEBACK_WON, "dp_a")
    told(world, log, tid, "e6", WebhookEventKind.CHARGEBACK_WON, "dp_a")
    # Then the second's 5,000 stay charged back, never more than captured
    state = world.store.load(tid)
    assert state.summary.chargeback_amount == 5_000
    assert state.head.chargebacks["dp_b"].amount == 5_000
    assert invariant_violations(state.summary) == []
    assert reversals(world, tid) == 1
    with pytest.raises(DomainError) as refused:
        refund(world, tid, 1_000)
    assert refused.value.code is ErrorCode.CHARGEBACK_CONFLICT
    assert_verified(world, tid)


def test_a_loss_recorded_before_its_opening_won_on_appeal_reverses_once(world: World) -> None:
    # Given a dispute whose closing (lost) is the first event to arrive: recorded as ended
    tid = world.pay(amount=10_000)
    log = InMemoryLog()
    told(world, log, tid, "e-lost", WebhookEventKind.CHARGEBACK_LOST, "dp_x")
    # When the appeal is won, then the opening arrives late, then a copy of the loss
    outcomes = [
        told(world, log, tid, "e-won", WebhookEventKind.CHARGEBACK_WON, "dp_x"),
        told(world, log, tid, "e-open", WebhookEventKind.CHARGEBACK, "dp_x"),
        told(world, log, tid, "e-lost-2", WebhookEventKind.CHARGEBACK_LOST, "dp_x"),
    ]
    # Then one reversal, and the payment is refundable again
    assert outcomes == [
        WebhookOutcome.CHARGEBACK_RESOLVED,
        WebhookOutcome.CHARGEBACK_RECORDED,
        WebhookOutcome.UNCHANGED,
    ]
    state = world.store.load(tid)
    assert reversals(world, tid) == 1
    assert (state.summary.chargeback_amount, state.summary.refundable_amount) == (0, 10_000)
    # And the audit trail tells it in order, each step by the processor
    audit = get_audit(world.store, tid)
    assert audit.chain.valid
    told_of_dispute = [
        (r.action, r.details.get("outcome"), r.initiator.id)
        for r in audit.records
        if r.action.value.startswith("CHARGEBACK")
    ]
    assert told_of_dispute == [
        (AuditAction.CHARGEBACK_REJECTED, "lost", "webhook:stripe"),  # not found: recorded
        (AuditAction.CHARGEBACK_RECORDED, None, "webhook:stripe"),
        (AuditAction.CHARGEBACK_RESOLVED, "won", "webhook:stripe"),
        (AuditAction.CHARGEBACK_REJECTED, "lost", "webhook:stripe"),  # the loss told again
    ]
    assert_verified(world, tid)


def test_an_api_loss_then_an_api_win_books_nothing_even_for_a_processor_dispute_id(
    world: World,
) -> None:
    """The API cannot take the appeal path, whatever id it names the dispute with."""
    tid = world.pay(amount=10_000, processor_reference="pi_1")
    deliver(
        world,
        InMemoryLog(),
        stripe_dispute("evt_w", "charge.dispute.funds_withdrawn", "needs_response"),
        stripe_dispute("evt_l", "charge.dispute.closed", "lost"),
    )
    record_chargeback(world.services, ChargebackCommand(tid, chargeback_id="dp_1"), USER)
    with pytest.raises(DomainError) as refused:
        resolve_chargeback(world.services, tid, "dp_1", DisputeOutcome.WON, USER)
    assert refused.value.code is ErrorCode.CHARGEBACK_ALREADY_RESOLVED
    assert reversals(world, tid) == 0
    assert world.store.load(tid).summary.chargeback_amount == 10_000


# --- refunds during the loss, and the limits after the reversal -------------------------------


def test_a_dashboard_refund_during_the_loss_stays_counted_after_the_appeal(world: World) -> None:
    # Given a dispute for the whole payment lost, and then a refund of 2,000 made in the
    # processor's dashboard (a fact: booked although the chargeback took everything)
    tid = world.pay(amount=10_000)
    log = InMemoryLog()
    told(world, log, tid, "e1", WebhookEventKind.CHARGEBACK, "dp_p")
    told(world, log, tid, "e2", WebhookEventKind.CHARGEBACK_LOST, "dp_p")
    payout = WebhookEvent(
        "stripe",
        "evt_dash",
        WebhookEventKind.REFUND_SUCCEEDED,
        "refund.updated",
        transaction_id=tid,
        amount=2_000,
        currency="USD",
        result=normalized(ProcessorCode.APPROVED, "stripe", reference="re_dash"),
    )
    assert deliver(world, log, payout) == [WebhookOutcome.EXTERNAL_PAYOUT]
    assert world.store.load(tid).summary.over_refunded
    # When the appeal is won
    told(world, log, tid, "e3", WebhookEventKind.CHARGEBACK_WON, "dp_p")
    # Then 8,000 is refundable, not more: a refund of 9,000 is refused, one of 8,000 is paid
    summary = world.store.load(tid).summary
    assert (summary.chargeback_amount, summary.refunded_amount) == (0, 2_000)
    assert summary.refundable_amount == 8_000
    with pytest.raises(DomainError):
        refund(world, tid, 9_000)
    refund(world, tid, 8_000)
    after = world.store.load(tid).summary
    assert (after.refunded_amount, after.refundable_amount) == (10_000, 0)
    assert invariant_violations(after) == []
    assert_verified(world, tid)


# --- Adyen: the second round has its own id ---------------------------------------------------


def adyen(event_code: str, success: str = "true") -> WebhookEvent:
    return classify_item(
        {
            "eventCode": event_code,
            "pspReference": "DSP1",
            "originalReference": "PAY1",
            "merchantAccountCode": "Shop",
            "merchantReference": "order-1",
            "amount": {"value": 10_000, "currency": "USD"},
            "success": success,
        }
    )


ADYEN_ROUNDS = ("CHARGEBACK", "CHARGEBACK_REVERSED", "SECOND_CHARGEBACK", "PREARBITRATION_LOST")


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(ADYEN_ROUNDS)))))
def test_an_adyen_second_round_lost_stays_charged_back_in_any_order(
    world: World, order: tuple[int, ...]
) -> None:
    # Given a chargeback won in the first round, then charged back again and lost in
    # pre-arbitration: Adyen holds the whole 10,000 back
    tid = world.pay(amount=10_000, processor_reference="PAY1")
    log = InMemoryLog()
    # When the four notifications arrive in this order, then all again
    for event_code in [ADYEN_ROUNDS[i] for i in order] * 2:
        deliver(world, log, adyen(event_code))
    # Then the ledger holds 10,000 back, the second round lost, and nothing is refundable
    state = world.store.load(tid)
    assert state.head.chargebacks["DSP1-SECOND"].status is ChargebackStatus.LOST
    assert (state.summary.chargeback_amount, state.summary.refundable_amount) == (10_000, 0)
    assert invariant_violations(state.summary) == []
    assert_verified(world, tid)


# --- only the processor can take the appeal path ----------------------------------------------


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ({"outcome": "won"}, (409, "CHARGEBACK_ALREADY_RESOLVED")),
        ({"outcome": "won", "reported": True}, (400, "VALIDATION_ERROR")),
        ({"outcome": "won", "reported_by_processor": True}, (400, "VALIDATION_ERROR")),
    ],
)
def test_an_api_caller_cannot_win_a_dispute_the_processor_reported_lost(
    world: World, body: dict[str, Any], refused: tuple[int, str]
) -> None:
    # Given a dispute the processor reported lost
    tid = world.pay(amount=10_000, processor_reference="pi_1")
    deliver(
        world,
        InMemoryLog(),
        stripe_dispute("evt_w", "charge.dispute.funds_withdrawn", "needs_response"),
        stripe_dispute("evt_l", "charge.dispute.closed", "lost"),
    )
    # When a caller of the API resolves it won, whatever the body claims about its source
    call = sender(runtime_for(world))
    status, answer, _ = call("POST", f"/transactions/{tid}/chargebacks/dp_1/resolve", body)
    # Then it is refused and the ledger keeps the chargeback
    assert (status, answer["error_code"]) == refused
    assert reversals(world, tid) == 0
    assert world.store.load(tid).summary.chargeback_amount == 10_000
