"""A whole service wired for tests: tables, store, simulated processor, clock, metrics."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from refund_service.adapters.dynamodb.ledger_store import DynamoDBLedgerStore
from refund_service.adapters.ecb_rates import EcbRateSource
from refund_service.adapters.processors.simulated import (
    InMemorySimulatorMemory,
    SimulatedProcessor,
)
from refund_service.bootstrap import build_services
from refund_service.domain.allocation import FeePolicy
from refund_service.domain.audit import Initiator
from refund_service.domain.ledger import PaymentStatus
from refund_service.service.context import Caller, Services
from refund_service.service.payments import PaymentCommand, record_payment
from refund_service.settings import ApiSettings, WebhookSettings
from refund_service.storage.schema import ALL_TABLES, create_table_request

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
USER = Caller(Initiator("user", "user-123", "v1.enc-email", "v1.enc-ip"), "corr-1")


class MutableClock:
    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class RecordingMetrics:
    counts: dict[str, int] = field(default_factory=dict)
    measures: list[tuple[str, float]] = field(default_factory=list)

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        key = name + "".join(f"[{k}={v}]" for k, v in sorted(dimensions.items()))
        self.counts[key] = self.counts.get(key, 0) + value

    def measure(self, name: str, value: float, unit: str) -> None:
        self.measures.append((name, value))


@cache
def rates() -> EcbRateSource:
    return EcbRateSource()


@dataclass
class World:
    client: Any
    tables: dict[str, str]
    services: Services
    memory: InMemorySimulatorMemory
    metrics: RecordingMetrics
    clock: MutableClock

    @property
    def store(self) -> DynamoDBLedgerStore:
        assert isinstance(self.services.store, DynamoDBLedgerStore)
        return self.services.store

    def pay(
        self,
        transaction_id: str | None = None,
        amount: int = 10_000,
        currency: str = "USD",
        tax: int = 0,
        fee: int = 0,
        status: PaymentStatus = PaymentStatus.COMPLETED,
        **extra: Any,
    ) -> str:
        transaction_id = transaction_id or f"txn-{uuid.uuid4().hex[:10]}"
        record_payment(
            self.services,
            PaymentCommand(
                transaction_id, amount, currency, status, tax_amount=tax, fee_amount=fee, **extra
            ),
            USER,
        )
        return transaction_id


def create_tables(client: Any, suffix: str = "") -> dict[str, str]:
    names = {}
    for spec in ALL_TABLES:
        name = spec.default_name + suffix
        client.create_table(**create_table_request(spec, name))
        names[spec.construct_id] = name
    return names


def webhook_settings(tables: dict[str, str], **overrides: Any) -> WebhookSettings:
    """The webhooks function's settings on the world's tables, as the stack would give them."""
    values: dict[str, Any] = {
        "ledger_table": tables["PaymentLedger"],
        "audit_table": tables["PaymentAuditTrail"],
        "idempotency_table": tables["Idempotency"],
        "processor": "simulated",
        "processor_secret_arn": "",
    }
    return WebhookSettings(**(values | overrides))


def make_world(
    client: Any,
    clock: MutableClock,
    *,
    suffix: str = "",
    fee_policy: FeePolicy = FeePolicy.NONE,
    conversion: bool = False,
    window_days: int = 180,
) -> World:
    tables = create_tables(client, suffix)
    memory = InMemorySimulatorMemory()
    metrics = RecordingMetrics()
    settings = ApiSettings(
        **webhook_settings(tables).as_dict(),
        audit_key_id="",
        refund_window_days=window_days,
        fee_policy=fee_policy,
        currency_conversion=conversion,
    )
    # The API's composition, on the test's client, memory, clock and metrics
    services = build_services(
        settings,
        store=DynamoDBLedgerStore(client, tables["PaymentLedger"], tables["PaymentAuditTrail"]),
        processor=SimulatedProcessor(memory),
        rates=rates(),
        metrics=metrics,
        clock=clock,
        sleep=lambda _seconds: None,
    )
    return World(client, tables, services, memory, metrics, clock)
