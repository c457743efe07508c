"""What every operation runs with: its collaborators, its policy, and who asked."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from refund_service.domain.allocation import FeePolicy
from refund_service.domain.audit import Initiator
from refund_service.domain.eligibility import RefundPolicy
from refund_service.domain.fx import RateSource
from refund_service.domain.processor import RefundProcessor
from refund_service.service.ports import LedgerStore, MetricsSink


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """The one text form of a moment: UTC, millisecond precision, sortable as text."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class NullMetrics:
    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        return None

    def measure(self, name: str, value: float, unit: str) -> None:
        return None


@dataclass(frozen=True)
class ServicePolicy:
    refund: RefundPolicy = field(default_factory=RefundPolicy)
    fee_policy: FeePolicy = FeePolicy.NONE
    currency_conversion: bool = False
    max_attempts: int = 60  # optimistic-concurrency retries per change...
    max_contention_seconds: float = 8.0  # ...within this long, well inside a request's time
    # How long after its reservation a refund request may still reach the processor: the API
    # function is stopped after 29 s, so a minute holds with room for clock skew (SPEC 3.1).
    send_window_seconds: float = 60.0


@dataclass
class Services:
    """The service layer's collaborators, built once per process by the entry point."""

    store: LedgerStore
    processor: RefundProcessor
    rates: RateSource
    policy: ServicePolicy = field(default_factory=ServicePolicy)
    metrics: MetricsSink = field(default_factory=NullMetrics)
    clock: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Caller:
    """Who asked (from the token, never the body) and the request's correlation id."""

    initiator: Initiator
    correlation_id: str | None = None
