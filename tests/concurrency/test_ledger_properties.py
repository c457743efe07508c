"""Random request histories against the service: the SPEC section 3 invariants always hold.

Run on DynamoDB Local: it answers in milliseconds where moto takes a tenth of a second.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refund_service.domain.errors import DomainError
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.service.payments import ChargebackCommand, record_chargeback
from refund_service.service.queries import verify_transaction
from refund_service.service.reconciler import reconcile
from refund_service.service.refunds import RefundCommand, request_refund
from refund_service.service.settlement import rollback_refund
from tests.support.world import USER, MutableClock, World, make_world

OUTCOMES = ["approve", "decline", "insufficient_funds", "timeout", "pending", "network_error"]

operation = st.one_of(
    st.tuples(st.just("refund"), st.integers(1, 12_000), st.sampled_from(OUTCOMES)),
    st.tuples(st.just("refund_all"), st.just(0), st.sampled_from(OUTCOMES)),
    st.tuples(st.just("rollback"), st.integers(0, 20), st.just("")),
    st.tuples(st.just("reconcile"), st.just(0), st.just("")),
    st.tuples(st.just("chargeback"), st.integers(1, 3_000), st.just("")),
)


def apply_operation(world: World, tid: str, op: tuple[str, int, str]) -> None:
    kind, number, simulate = op
    services = world.services
    if kind in ("refund", "refund_all"):
        amount = number if kind == "refund" else None
        command = RefundCommand(tid, RefundReason.OTHER, amount, metadata={"simulate": simulate})
        request_refund(services, command, USER)
    elif kind == "rollback":
        refunds = sorted(world.store.load(tid).refunds)
        if refunds:
            rollback_refund(services, tid, refunds[number % len(refunds)], "test", USER)
    elif kind == "reconcile":
        world.clock.advance(minutes=10)
        reconcile(services, timedelta(minutes=5), timedelta(hours=1))
    else:
        record_chargeback(services, ChargebackCommand(tid, number, reason="test"), USER)


def check_invariants(world: World, tid: str) -> None:
    state = world.store.load(tid)
    summary = state.summary
    assert summary.refunded_amount + summary.pending_refund_amount <= summary.captured_amount
    assert summary.tax_refunded_amount + summary.pending_tax_amount <= summary.tax_amount
    verification = verify_transaction(world.store, tid)
    assert verification.ok, verification
    payments = world.memory.payments()
    for refund in state.refunds.values():
        paid = payments.get(refund.refund_id, 0)
        assert paid <= 1  # the processor never pays the same refund twice
        if refund.status in (RefundStatus.SUCCESS, RefundStatus.ROLLED_BACK):
            assert paid == 1
        if refund.status is RefundStatus.FAILED:
            assert paid == 0


class TestRandomHistories:
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        history=st.lists(operation, min_size=1, max_size=10),
        tax=st.integers(0, 2_000),
        amount=st.integers(1_000, 12_000),
    )
    def test_invariants_hold_after_every_step(
        self, local_dynamodb: Any, history: list[Any], tax: int, amount: int
    ) -> None:
        world = make_world(local_dynamodb, MutableClock(), suffix=f"-{uuid.uuid4().hex[:8]}")
        tid = world.pay("prop-1", amount=amount, tax=min(tax, amount))
        for op in history:
            with contextlib.suppress(DomainError):  # refusals are fine; breakage is not
                apply_operation(world, tid, op)
            check_invariants(world, tid)
