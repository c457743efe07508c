"""What the service needs from the outside world, as protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from refund_service.domain.audit import AuditRecord, ChainHead, RepeatTally
from refund_service.domain.chargeback import Chargeback
from refund_service.domain.ledger import Entry
from refund_service.domain.refund import Refund
from refund_service.domain.summary import Summary


@dataclass(frozen=True)
class Head:
    """The per-transaction head: the ledger summary and the audit chain head, kept together."""

    summary: Summary
    chain: ChainHead = field(default_factory=ChainHead)
    request_digest: str | None = None  # of the body that recorded the payment
    customer_reference: str | None = None
    chargebacks: dict[str, Chargeback] = field(default_factory=dict)  # by chargeback_id
    # Repeated identical refusals counted in the current window, by fingerprint.
    repeats: dict[str, RepeatTally] = field(default_factory=dict)
    stored: bool = False  # False when nothing was ever written for this transaction
    # What the processor calls the payment, copied from its recording so that a refund needs
    # no entry to name it. None on heads recorded before key pointers existed (decision 0025).
    payment_reference: str | None = None


@dataclass(frozen=True)
class KeyClaim:
    """An idempotency key's pointer on one transaction: the refund last reserved under it."""

    key: str
    refund_id: str | None = None  # None: no refund of this transaction was reserved under it
    # The refunds the pointer named before, each failed as unsent when it moved on. One may
    # still be paid late, and a retry under the key must then find it (decision 0025).
    earlier: tuple[str, ...] = ()

    def named(self) -> tuple[str, ...]:
        """Every refund ever reserved under the key on this transaction, newest first."""
        return (self.refund_id, *self.earlier) if self.refund_id else ()


@dataclass(frozen=True)
class KeyMove:
    """A reservation moves its key's pointer from what it read to its own refund; the commit
    fails if the pointer no longer names `expected`."""

    key: str
    expected: str | None
    refund_id: str
    earlier: tuple[str, ...] = ()  # what the moved pointer keeps naming: `expected` and before


@dataclass(frozen=True)
class TransactionState:
    head: Head
    entries: tuple[Entry, ...] = ()
    refunds: dict[str, Refund] = field(default_factory=dict)
    # Processor answers that could not be booked when they came, by refund id, as dicts of
    # the normalized result: booked later without asking the processor again.
    kept_outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The pointer of the request's idempotency key, as a reservation read found it.
    key_claim: KeyClaim | None = None

    @property
    def summary(self) -> Summary:
        return self.head.summary


@dataclass(frozen=True)
class Change:
    """Everything one ledger change writes, committed as one atomic transaction.

    `expected` is the head it was computed from: the commit fails if the stored head moved on.
    """

    expected: Head
    head: Head
    entries: tuple[Entry, ...] = ()
    refunds: tuple[Refund, ...] = ()
    audit: tuple[AuditRecord, ...] = ()
    payment_aliases: tuple[str, ...] = ()  # processor payment ids that name this transaction
    # A change that only counts a repeated refusal writes no audit record: it is conditional
    # on the tally it read (fingerprint, count), so two counts cannot both be lost in one.
    repeat_guard: tuple[str, int] | None = None
    touched_at: str = ""  # the head's updated_at when the change writes no audit record
    key_move: KeyMove | None = None  # a reservation under an idempotency key
    # A refusal under an idempotency key: the commit fails if the key's pointer no longer
    # names what the refusal read (decision 0025). Head and pointer are read in one batch,
    # so the pointer may predate a reservation the head holds; the refusal is then redone.
    key_guard: KeyClaim | None = None


def after(state: TransactionState, change: Change) -> TransactionState:
    """The state a committed change leaves behind, without reading it back."""
    refunds = dict(state.refunds)
    refunds.update({r.refund_id: r for r in change.refunds})
    head = replace(change.head, stored=True)
    claim = state.key_claim
    if change.key_move is not None:
        move = change.key_move
        claim = KeyClaim(move.key, move.refund_id, move.earlier)
    return TransactionState(
        head, state.entries + change.entries, refunds, state.kept_outcomes, claim
    )


def claim_key(change: Change, state: TransactionState, refund: Refund) -> Change:
    """The reservation of `refund` with its key's pointer moved to it, conditional on the
    pointer the reservation read (`state.key_claim`, from `LedgerStore.load_for_refund`)."""
    key = refund.idempotency_key
    if key is None:
        return change
    claim = state.key_claim
    named = claim.named() if claim is not None and claim.key == key else ()
    expected = named[0] if named else None
    return replace(change, key_move=KeyMove(key, expected, refund.refund_id, named))


def guard_key(change: Change, state: TransactionState) -> Change:
    """A refusal's change, conditional on the key's pointer as `state` read it: a refusal
    decided on a pointer older than its head (a same-key reservation it did not see) must
    not commit, or a request would be refused the amount its own key refunded."""
    if state.key_claim is None:
        return change
    return replace(change, key_guard=state.key_claim)


class ConcurrentUpdateError(Exception):
    """The transaction's head changed between read and write; read and decide again."""


def read_before(head: Head, refund: Refund) -> bool:
    """Whether `head` was read before a change of `refund` that added an entry: the head's
    summary would not hold what the refund says (its reservation, its outcome), and deciding
    on the two together could book an answer against a summary that never reserved it."""
    return max(refund.entry_seqs, default=0) > head.summary.version


@dataclass(frozen=True)
class PendingRefundRef:
    transaction_id: str
    refund_id: str
    pending_since: str


class LedgerStore(Protocol):
    def load(self, transaction_id: str) -> TransactionState:
        """Head, entries and refunds of one transaction, in one strongly consistent query."""
        ...

    def load_for_refund(self, transaction_id: str, idempotency_key: str | None) -> TransactionState:
        """What a reservation reads, whatever the payment's history: the head and the pointer
        of the idempotency key (`key_claim`), together and not as one snapshot, then, if the
        key names refunds, those refunds with their entries and kept outcomes.
        ConcurrentUpdateError if a refund holds an entry the head does not (`read_before`):
        read again. A pointer older than the head is caught at commit (`KeyMove.expected`,
        `Change.key_guard`). A head recorded before pointers existed (no
        `payment_reference`) is read whole, as `load` does."""
        ...

    def load_refund(self, transaction_id: str, refund_id: str) -> TransactionState:
        """The head, then one refund with its entries and its kept outcome, if any: what
        settling it reads. No refund in `refunds` if the transaction has none of that id;
        ConcurrentUpdateError if the refund holds an entry the head does not."""
        ...

    def commit(self, change: Change) -> None:
        """Write a change atomically; ConcurrentUpdateError if the head moved on, or if its
        key's pointer no longer names the refund it expects (`key_move`) or what the change
        read (`key_guard`)."""
        ...

    def keep_outcome(self, transaction_id: str, refund_id: str, result: dict[str, Any]) -> None:
        """Keep a processor's answer durably, apart from the contended head; the first kept
        answer for a refund stays."""
        ...

    def find_refund(self, refund_id: str) -> str | None:
        """The transaction id a refund belongs to, or None."""
        ...

    def find_payment(self, processor_reference: str) -> str | None:
        """The transaction recorded with this processor payment id, or None."""
        ...

    def pending_refunds(self, older_than: datetime, limit: int) -> list[PendingRefundRef]:
        """Refunds pending since before `older_than`, oldest first, from the sparse index."""
        ...

    def audit_records(self, transaction_id: str) -> list[AuditRecord]: ...

    def load_head(self, transaction_id: str) -> Head:
        """The head item alone (one strongly consistent read); an unstored head if none."""
        ...

    def entries_page(
        self, transaction_id: str, after_seq: int, limit: int
    ) -> tuple[list[Entry], bool]:
        """Up to `limit` entries with seq above `after_seq`, in order; and whether more follow."""
        ...

    def iter_audit_records(self, transaction_id: str) -> Iterator[AuditRecord]:
        """The audit records in order, read page by page as they are consumed."""

    def refunds_created_between(
        self, since: datetime, until: datetime
    ) -> Iterator[tuple[str, str]]:
        """(transaction_id, refund_id) of every refund created in [since, until), any status,
        from the by-day index."""
        ...

    def transaction_ids(self) -> Iterator[str]:
        """Every transaction with a head; for verify-all only, never on a request path."""
        ...


class FieldEncryptor(Protocol):
    def encrypt(self, plaintext: str, purpose: str) -> str:
        """Ciphertext token for a sensitive field; `purpose` is bound as associated data."""
        ...


class MetricsSink(Protocol):
    def count(self, name: str, value: int = 1, **dimensions: str) -> None: ...

    def measure(self, name: str, value: float, unit: str) -> None: ...
