"""Attacks on the invariants of SPEC 3: an over-refunded payment is a state the ledger allows
(a processor's fact), so every later operation on it must still answer truly and be audited."""

from __future__ import annotations

import pytest

from refund_service.domain.audit import AuditAction
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.processor import WebhookEvent, WebhookEventKind
from refund_service.service.queries import get_audit
from refund_service.service.webhooks import handle_event
from tests.support.world import World
from tests.unit.service.test_processor_agreement import InMemoryLog, refund


def test_a_refund_request_on_an_over_refunded_payment_is_refused_and_audited(
    world: World,
) -> None:
    # Given a payment over-refunded by a processor's late payout (14,000 of 10,000)
    tid = world.pay(amount=10_000)
    voided = refund(world, tid, 4_000, metadata={"simulate": "network_error"})
    refund(world, tid)
    late = WebhookEvent(
        "simulated", "evt-late", WebhookEventKind.REFUND_SUCCEEDED, "refund.succeeded",
        refund_id=voided.refund.refund_id, transaction_id=tid,
    )  # fmt: skip
    handle_event(world.services, InMemoryLog(), late)
    assert world.store.load(tid).summary.status.value == "over_refunded"
    # When another refund is asked for
    with pytest.raises(DomainError) as refused:
        refund(world, tid, 100)
    # Then it is refused as nothing is left, and the refusal is audited
    assert refused.value.code is ErrorCode.ALREADY_REFUNDED
    actions = [r.action for r in get_audit(world.store, tid).records]
    assert actions[-1] is AuditAction.REFUND_REJECTED


def test_a_processor_failure_on_an_over_refunded_payment_is_booked(world: World) -> None:
    # Given a payment over-refunded by two late payouts (20,000 of 10,000)
    tid = world.pay(amount=10_000)
    log = InMemoryLog()
    first = refund(world, tid, 5_000, metadata={"simulate": "network_error"})
    second = refund(world, tid, 5_000, metadata={"simulate": "network_error"})
    refund(world, tid)
    for n, voided in enumerate((first, second)):
        paid = WebhookEvent(
            "simulated", f"evt-paid-{n}", WebhookEventKind.REFUND_SUCCEEDED, "refund.succeeded",
            refund_id=voided.refund.refund_id, transaction_id=tid,
        )  # fmt: skip
        handle_event(world.services, log, paid)
    assert world.store.load(tid).summary.refunded_amount == 20_000
    # When the processor reports that one of them failed after all (money back)
    failed = WebhookEvent(
        "simulated", "evt-failed", WebhookEventKind.REFUND_FAILED, "refund.failed",
        refund_id=first.refund.refund_id, transaction_id=tid,
    )  # fmt: skip
    handle_event(world.services, log, failed)
    # Then the ledger books it: 15,000 refunded, still over, as the processor says
    assert world.store.load(tid).summary.refunded_amount == 15_000
