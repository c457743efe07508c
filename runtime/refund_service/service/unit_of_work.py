"""One unit of work for every ledger change: load the transaction, let a decision say what to
write, commit it atomically, then count what it did. When another writer committed first, the
whole of it runs again from the load, after a short random backoff.

A decision gets the loaded state in a fresh `ChangeBuilder` and writes nothing itself: it
answers a `Decision` (what to commit, if anything, and what the operation returns) or a
`Refusal` (the audit record to commit, if any, and the error to raise); a refusal that is not
audited it simply raises. Metrics are counted only by the attempt that ends the unit of
work, so an attempt thrown away on a conflict is never counted.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from refund_service import observability_names as names
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.summary import Summary
from refund_service.service.changes import ChangeBuilder
from refund_service.service.context import Caller, Services, timestamp
from refund_service.service.ports import Change, ConcurrentUpdateError, TransactionState

T = TypeVar("T")


@dataclass(frozen=True)
class Count:
    """A metric to count once the change is committed."""

    name: str
    value: int = 1
    dimensions: dict[str, str] = field(default_factory=dict)


def over_refund_counts(summary: Summary) -> tuple[Count, ...]:
    """A booked fact that leaves more refunded than captured raises the alarm (SPEC 3.1)."""
    return (Count(names.OVER_REFUNDED),) if summary.over_refunded else ()


@dataclass(frozen=True)
class Decision(Generic[T]):
    """What the operation answers, the change to commit (None: nothing to write) and what to
    count once it is committed."""

    answer: T
    change: Change | None = None
    counts: tuple[Count, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """A refusal, and the change that audits it (None: there is nothing to audit it on)."""

    error: DomainError
    audit: Change | None = None
    counts: tuple[Count, ...] = ()

    def recorded(self) -> Decision[None]:
        """The audit alone, for a refusal the caller answers itself."""
        return Decision(None, self.audit, self.counts)


Decide = Callable[[ChangeBuilder], Decision[T] | Refusal]


def load(services: Services, transaction_id: str) -> TransactionState:
    """The read every attempt decides on."""
    return services.store.load(transaction_id)


def change(
    services: Services,
    transaction_id: str,
    caller: Caller,
    decide: Decide[T],
    *,
    known: TransactionState | None = None,
    read: Callable[[], TransactionState] | None = None,
) -> T:
    """Run `decide` on the transaction and commit what it says, until it commits.

    `known` is the state this process last wrote: the first attempt decides on it without a
    read, and a conflict falls back to reading. `read` narrows what an attempt reads to what
    its decision needs (decision 0025); without it, the whole transaction is loaded. A Refusal
    is raised once its audit commits.
    """
    first = [known] if known is not None else []

    def attempt() -> T:
        if first:
            state = first.pop()
        else:
            state = read() if read is not None else load(services, transaction_id)
        moment = services.clock()
        draft = ChangeBuilder(
            state, timestamp(moment), caller.initiator, caller.correlation_id, moment=moment
        )
        decision = decide(draft)
        written = decision.change if isinstance(decision, Decision) else decision.audit
        if written is not None:
            services.store.commit(written)
        for count in decision.counts:
            services.metrics.count(count.name, count.value, **count.dimensions)
        if isinstance(decision, Refusal):
            raise decision.error
        return decision.answer

    return with_retries(services, attempt)


def with_retries(services: Services, attempt: Callable[[], T]) -> T:
    """Run a read-decide-write attempt until it commits, backing off on version conflicts."""
    deadline = time.monotonic() + services.policy.max_contention_seconds
    for number in range(services.policy.max_attempts):
        try:
            return attempt()
        except ConcurrentUpdateError:
            if time.monotonic() >= deadline:
                break
            services.sleep(random.uniform(0, min(0.2, 0.005 * 2 ** min(number, 6))))  # noqa: S311
    raise DomainError(
        ErrorCode.LEDGER_CONTENTION,
        "The transaction is being changed by many requests at once; retry shortly.",
    )
