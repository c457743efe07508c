"""The processor reconciliation function: its window, its report and what it logs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from refund_service import observability_names as names
from refund_service.bootstrap import build_processor_reconciler
from refund_service.domain.processor import (
    ProcessorRefundRecord,
    ProcessorRefundRequest,
    ProcessorResult,
    ProcessorStatus,
)
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.handlers import processor_reconciler
from refund_service.observability import logger
from refund_service.service.context import Services
from refund_service.service.refunds import RefundCommand, request_refund
from refund_service.settings import ProcessorReconcilerSettings, SettingsError
from tests.support.world import USER, World

ENVIRON = {
    "LEDGER_TABLE_NAME": "PaymentLedger",
    "AUDIT_TABLE_NAME": "PaymentAuditTrail",
    "IDEMPOTENCY_TABLE_NAME": "RefundIdempotency",
    "PROCESSOR": "simulated",
    "PROCESSOR_SECRET_ARN": "",
    "RECONCILE_AFTER_MINUTES": "5",
    "PROCESSOR_RECONCILE_WINDOW_HOURS": "48",
}


SETTINGS = ProcessorReconcilerSettings.from_environ(ENVIRON)


def run_once(services: Services) -> dict[str, Any]:
    """The function's run, built by the composition root around the test's services."""
    run = build_processor_reconciler(SETTINGS, services=services)
    assert run.services is services
    return processor_reconciler.run_once(run)


class _CurrentStdout:
    """Writes to whatever sys.stdout is at the moment: the captured stream during a test."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(logger.registered_handler, "stream", _CurrentStdout())
    return capsys


def log_lines(logs: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in logs.readouterr().out.splitlines() if line.strip()]


@dataclass
class ListingProcessor:
    """The world's simulated processor, plus a refund listing the test decides."""

    inner: Any
    listed: list[ProcessorRefundRecord] | None
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.inner.name)

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        return self.inner.refund(request)  # type: ignore[no-any-return]

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        return self.inner.lookup(request)  # type: ignore[no-any-return]

    def refunds_between(
        self, since: datetime, until: datetime
    ) -> Iterable[ProcessorRefundRecord] | None:
        self.windows.append((since, until))
        return None if self.listed is None else list(self.listed)


def with_listing(world: World, listed: list[ProcessorRefundRecord] | None) -> Services:
    return replace(world.services, processor=ListingProcessor(world.services.processor, listed))


def paid(refund_id: str | None, amount: int, reference: str) -> ProcessorRefundRecord:
    return ProcessorRefundRecord(
        processor="simulated",
        processor_reference=reference,
        refund_id=refund_id,
        amount=amount,
        currency="USD",
        status=ProcessorStatus.SUCCEEDED,
        created_at="2026-11-02T08:00:00+00:00",
    )


def pending_refund(world: World, amount: int) -> tuple[str, str]:
    tid = world.pay(amount=10_000)
    command = RefundCommand(
        tid, RefundReason.REQUESTED_BY_CUSTOMER, amount, metadata={"simulate": "pending"}
    )
    outcome = request_refund(world.services, command, USER)
    assert outcome.refund.status is RefundStatus.PENDING
    return tid, outcome.refund.refund_id


def test_window_ends_where_the_pending_reconciler_begins(world: World) -> None:
    services = with_listing(world, [])

    run_once(services)

    assert isinstance(services.processor, ListingProcessor)
    ((since, until),) = services.processor.windows
    assert until == world.clock.now - timedelta(minutes=5)
    assert until - since == timedelta(hours=48)


def test_a_payout_the_ledger_lacks_is_booked_and_reported(world: World, logs: Any) -> None:
    # Given a refund the ledger holds as pending, which the processor lists as paid
    tid, refund_id = pending_refund(world, 4_000)
    services = with_listing(world, [paid(refund_id, 4_000, "sim_ref_1")])

    # When the function runs
    result = run_once(services)

    # Then the payout is booked as a succeeded refund, and the report says so
    assert result == {
        "supported": True,
        "listed": 1,
        "agreed": 0,
        "booked": [refund_id],
        "mismatches": [],
    }
    assert world.store.load(tid).refunds[refund_id].status is RefundStatus.SUCCESS
    assert world.metrics.counts[names.PROCESSOR_PAYOUTS_BOOKED] == 1
    (summary,) = log_lines(logs)
    assert summary["message"] == "processor reconciliation finished"
    assert (summary["listed"], summary["booked"], summary["mismatches"]) == (1, 1, 0)
    assert summary["booked_refund_ids"] == [refund_id]


def test_each_mismatch_is_one_warning_naming_the_refund(world: World, logs: Any) -> None:
    # Given the processor lists a payout of another amount and one the ledger never saw
    _, refund_id = pending_refund(world, 4_000)
    listed = [paid(refund_id, 3_999, "sim_ref_2"), paid("rf_unknown", 500, "sim_ref_3")]

    # When the function runs
    result = run_once(with_listing(world, listed))

    # Then both are reported, counted and logged, one warning each
    assert [(m["refund_id"], m["processor_reference"]) for m in result["mismatches"]] == [
        (refund_id, "sim_ref_2"),
        ("rf_unknown", "sim_ref_3"),
    ]
    assert world.metrics.counts[names.PROCESSOR_MISMATCH] == 2
    lines = log_lines(logs)
    warnings = [line for line in lines if line["level"] == "WARNING"]
    assert [(w["refund_id"], w["processor_reference"]) for w in warnings] == [
        (refund_id, "sim_ref_2"),
        ("rf_unknown", "sim_ref_3"),
    ]
    assert "3999" in warnings[0]["problem"]
    assert [line["mismatches"] for line in lines if line["level"] == "INFO"] == [2]


def test_a_processor_that_cannot_list_is_noted_once(world: World, logs: Any) -> None:
    result = run_once(with_listing(world, None))

    assert result == {
        "supported": False,
        "listed": 0,
        "agreed": 0,
        "booked": [],
        "mismatches": [],
    }
    (line,) = log_lines(logs)
    assert line["level"] == "INFO"
    assert line["processor"] == "simulated"
    assert names.PROCESSOR_MISMATCH not in world.metrics.counts


def test_window_hours_are_read_required_and_must_be_positive() -> None:
    def load(**changes: str | None) -> ProcessorReconcilerSettings:
        environ = {k: v for k, v in (ENVIRON | changes).items() if v is not None}
        return ProcessorReconcilerSettings.from_environ(environ)

    assert load().processor_reconcile_window_hours == 48
    assert load(PROCESSOR_RECONCILE_WINDOW_HOURS="72").processor_reconcile_window_hours == 72
    with pytest.raises(SettingsError, match="PROCESSOR_RECONCILE_WINDOW_HOURS"):
        load(PROCESSOR_RECONCILE_WINDOW_HOURS="0")
    with pytest.raises(SettingsError, match="needs PROCESSOR_RECONCILE_WINDOW_HOURS"):
        load(PROCESSOR_RECONCILE_WINDOW_HOURS=None)


def test_the_stack_and_the_local_stack_default_the_window_to_48_hours() -> None:
    from local.config import LocalConfig
    from stacks.config import DEFAULTS

    local = LocalConfig(Path("."), 0, 0, 0).setting_values(audit_key_id="")
    assert DEFAULTS["processor_reconcile_window_hours"] == 48
    assert local["PROCESSOR_RECONCILE_WINDOW_HOURS"] == "48"
