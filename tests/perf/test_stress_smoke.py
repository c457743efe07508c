"""`make stress` in miniature: concurrent mixed requests, then every ledger is verified."""

from __future__ import annotations

from typing import Any

import pytest

from refund_service.domain.refund import RefundReason
from refund_service.service.queries import get_audit
from refund_service.service.refunds import RefundCommand, request_refund
from tests.bench.stack import BenchStack
from tests.bench.stress import MIX, StressReport, run_stress
from tests.support.world import USER, World


@pytest.fixture(scope="module")
def stress(perf_stack: BenchStack) -> StressReport:
    # disputes weigh more than in `make stress`, so that a hundred requests surely hold some
    mix = {**MIX, "dispute": 10, "resolve": 15}
    return run_stress(
        perf_stack, requests=100, clients=4, payments=6, seed=3, time_limit=60, mix=mix
    )


def test_every_request_got_an_answer(stress: StressReport) -> None:
    assert stress.requests == 100
    assert sum(len(v) for v in stress.shared.latencies.values()) == 100


def test_no_server_error_and_replays_answer_the_same(stress: StressReport) -> None:
    assert stress.shared.problems == [], stress.render()


def test_the_ledger_verifies_after_the_load(stress: StressReport) -> None:
    verification = stress.verification
    assert verification.ledger_failures == [], stress.render()
    assert verification.transactions_checked >= stress.payments
    assert verification.still_pending == 0
    assert verification.acknowledged > 0
    assert verification.paid_twice == 0


def test_the_processor_paid_exactly_what_the_ledger_booked(stress: StressReport) -> None:
    verification = stress.verification
    assert verification.payouts, stress.render()
    assert verification.payouts_agree, stress.render()
    assert stress.shared.reconcile_runs > 0
    assert "equal" in stress.render()


def test_disputes_and_resolutions_were_part_of_the_load(stress: StressReport) -> None:
    assert stress.shared.statuses["dispute"]["201"] > 0, stress.render()
    assert sum(stress.shared.statuses["resolve"].values()) > 0, stress.render()


def test_audit_reads_said_broken_only_while_writes_were_in_flight(stress: StressReport) -> None:
    # Whatever GET .../audit answered under load, every chain verifies once writes stop.
    assert stress.verification.ledger_failures == []
    for finding in stress.findings:
        assert "chain head does not match the last record" in finding, finding


def test_an_audit_read_is_consistent_while_a_refund_commits(world: World) -> None:
    # Given a payment, and a store on which a refund commits between the head and the records
    transaction_id = world.pay(amount=10_000)
    store = world.store

    class RefundCommitsMidRead:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def audit_records(self, txn: str) -> list[Any]:
            command = RefundCommand(txn, RefundReason.OTHER, amount=100)
            request_refund(world.services, command, USER)
            return store.audit_records(txn)

    # When the audit trail is read
    view = get_audit(RefundCommitsMidRead(), transaction_id)  # type: ignore[arg-type]

    # Then the chain it shows verifies
    assert view.chain.valid, view.chain
