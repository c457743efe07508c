"""A crash at every boundary between the ledger writes and the processor call, then reconcile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from refund_service.domain.audit import AuditAction
from refund_service.domain.processor import ProcessorRefundRequest, ProcessorResult
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.service.ports import Change
from refund_service.service.queries import get_audit, verify_transaction
from refund_service.service.reconciler import reconcile
from refund_service.service.refunds import RefundCommand, request_refund
from tests.support.world import USER, World


class CrashError(Exception):
    """The process dies here: nothing after this point runs."""


class FaultyStore:
    """Crashes on the n-th commit, before or after the write reaches the table."""

    def __init__(self, inner: Any, commit_number: int, after_write: bool):
        self.inner, self.target, self.after_write = inner, commit_number, after_write
        self.commits = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def commit(self, change: Change) -> None:
        self.commits += 1
        if self.commits == self.target and not self.after_write:
            raise CrashError("before write")
        self.inner.commit(change)
        if self.commits == self.target:
            raise CrashError("after write")


class FaultyProcessor:
    """Crashes before sending, or after the processor acted but before its answer arrives."""

    def __init__(self, inner: Any, after_send: bool):
        self.inner, self.after_send, self.name = inner, after_send, inner.name

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        if not self.after_send:
            raise CrashError("before send")
        self.inner.refund(request)
        raise CrashError("after send")

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        result: ProcessorResult | None = self.inner.lookup(request)
        return result


# (name, commit number to crash on or None, after write, processor fault or None)
BOUNDARIES = [
    ("before reservation write", 1, False, None),
    ("after reservation write", 1, True, None),
    ("before processor send", None, False, "before"),
    ("after processor acted", None, False, "after"),
    ("before outcome write", 2, False, None),
    ("after outcome write", 2, True, None),
]


def crash_once(
    world: World,
    commit: int | None,
    after_write: bool,
    processor: str | None,
    command: RefundCommand,
) -> None:
    services = world.services
    real_store, real_processor = services.store, services.processor
    if commit is not None:
        services.store = FaultyStore(real_store, commit, after_write)
    if processor is not None:
        services.processor = FaultyProcessor(real_processor, processor == "after")
    try:
        with pytest.raises(CrashError):
            request_refund(services, command, USER)
    finally:
        services.store, services.processor = real_store, real_processor


def assert_settled_exactly_once(world: World, tid: str) -> None:
    state = world.store.load(tid)
    for refund in state.refunds.values():
        assert refund.status in (RefundStatus.SUCCESS, RefundStatus.FAILED), refund
        paid = world.memory.payments().get(refund.refund_id, 0)
        assert paid == (1 if refund.status is RefundStatus.SUCCESS else 0)
        actions = [
            r.action for r in get_audit(world.store, tid).records if r.refund_id == refund.refund_id
        ]
        assert AuditAction.REFUND_PENDING in actions
        assert actions[-1] in (AuditAction.REFUND_SUCCEEDED, AuditAction.REFUND_FAILED)
    summary = state.summary
    assert summary.pending_refund_amount == 0
    assert summary.refunded_amount == sum(
        r.amount for r in state.refunds.values() if r.status is RefundStatus.SUCCESS
    )
    verification = verify_transaction(world.store, tid)
    assert verification.ok, verification


@pytest.mark.parametrize("simulate", ["approve", "decline"])
@pytest.mark.parametrize(
    ("name", "commit", "after_write", "processor"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES]
)
def test_crash_then_reconcile_settles_each_refund_once(
    world: World,
    simulate: str,
    name: str,
    commit: int | None,
    after_write: bool,
    processor: str | None,
) -> None:
    tid = world.pay(amount=10_000, tax=800)
    command = RefundCommand(tid, RefundReason.OTHER, 4_000, metadata={"simulate": simulate})
    crash_once(world, commit, after_write, processor, command)
    world.clock.advance(minutes=10)
    reconcile(world.services, timedelta(minutes=5), timedelta(hours=1))
    assert_settled_exactly_once(world, tid)


@pytest.mark.parametrize(
    ("name", "commit", "after_write", "processor"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES]
)
def test_retries_with_the_same_key_end_in_one_paid_refund(
    world: World,
    name: str,
    commit: int | None,
    after_write: bool,
    processor: str | None,
) -> None:
    # Given a request that crashed somewhere between its writes and the processor
    tid = world.pay(amount=10_000)
    command = RefundCommand(tid, RefundReason.OTHER, 4_000, idempotency_key="k-1")
    crash_once(world, commit, after_write, processor, command)
    # When the client retries with the same key (and again after reconciliation, while the
    # refund it reserved is left pending), as a client told "pending" or "503" would
    outcome = request_refund(world.services, command, USER)
    assert outcome.refund.refund_id == f"{tid}-REFUND"
    if outcome.refund.status is RefundStatus.PENDING:
        world.clock.advance(minutes=10)
        reconcile(world.services, timedelta(minutes=5), timedelta(hours=1))
        outcome = request_refund(world.services, command, USER)
    # Then exactly one refund of 4,000 was paid, never two
    assert outcome.refund.status is RefundStatus.SUCCESS
    assert sum(world.memory.payments().values()) == 1
    assert world.store.load(tid).summary.refunded_amount == 4_000
    assert_settled_exactly_once(world, tid)


def test_a_resumed_refund_is_never_sent_again(world: World) -> None:
    """Only the request that reserved a refund sends it: a resend could race the reconciler's
    void and be paid after the reservation was released."""
    tid = world.pay(amount=10_000)
    command = RefundCommand(tid, RefundReason.OTHER, 4_000, idempotency_key="k-2")
    crash_once(world, 1, True, None, command)  # reserved, never sent
    sent: list[str] = []
    real = world.services.processor.refund
    world.services.processor.refund = lambda request: (
        sent.append(request.refund_id)
        or real(  # type: ignore[method-assign]
            request
        )
    )
    outcome = request_refund(world.services, command, USER)
    assert sent == []
    assert outcome.refund.status is RefundStatus.PENDING
