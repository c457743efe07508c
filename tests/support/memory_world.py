"""Wiring for fast service tests: the in-memory ledger store, an in-memory webhook event log,
and any processor, with a controllable clock and recorded metrics. No AWS, not even moto."""

from __future__ import annotations

import threading

from refund_service.bootstrap import build_services
from refund_service.domain.allocation import FeePolicy
from refund_service.domain.processor import RefundProcessor
from refund_service.service.context import Services
from refund_service.service.ports import LedgerStore
from refund_service.settings import ApiSettings
from tests.support.memory_store import InMemoryLedgerStore
from tests.support.world import MutableClock, RecordingMetrics, rates


class InMemoryEventLog:
    """The webhook event log (event ids already acted on), in memory."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def seen(self, key: str) -> bool:
        with self._lock:
            return key in self._seen

    def remember(self, key: str) -> None:
        with self._lock:
            self._seen.add(key)


def memory_services(
    processor: RefundProcessor,
    clock: MutableClock,
    *,
    store: LedgerStore | None = None,
    metrics: RecordingMetrics | None = None,
    window_days: int = 180,
) -> Services:
    """The service on the in-memory store (or `store`), never sleeping between retries."""
    settings = ApiSettings(
        ledger_table="memory-ledger",
        audit_table="memory-audit",
        idempotency_table="memory-idempotency",
        processor="simulated",
        processor_secret_arn="",
        audit_key_id="",
        refund_window_days=window_days,
        fee_policy=FeePolicy.NONE,
        currency_conversion=False,
    )
    return build_services(
        settings,
        store=store if store is not None else InMemoryLedgerStore(),
        processor=processor,
        rates=rates(),
        metrics=metrics if metrics is not None else RecordingMetrics(),
        clock=clock,
        sleep=lambda _seconds: None,
    )
