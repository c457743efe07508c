"""A LedgerStore in memory, with the DynamoDB store's semantics, for fast service tests.

What the DynamoDB store guarantees, this one does too (tests/unit/service/test_memory_store.py
runs the same contract against both):
- a commit is all-or-nothing and raises ConcurrentUpdateError when the stored head's audit
  chain moved on (or, for a first write, when a head already exists), or when the refusal
  tally a count is conditional on (`repeat_guard`) moved on;
- entries, audit records and payment aliases are written only if they do not exist yet,
  otherwise the whole commit fails with ConcurrentUpdateError; refund records are replaced;
- the first kept outcome for a refund stays;
- an idempotency key's pointer moves only from the refund the commit expects it to name, a
  refusal under a key commits only if the pointer still names what it read, and
  `load_for_refund` / `load_refund` return the same part of a transaction as the DynamoDB reads;
- the pending-refunds "index" holds pending refunds with a `pending_since`, compared as text
  and listed oldest first, like the sparse GSI.
Whatever a caller could change (the dicts inside refunds, audit records, heads and kept
outcomes) is copied in and out, so nothing stored changes through an alias; the rest of each
record is frozen and shared.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from refund_service.domain.audit import AuditRecord
from refund_service.domain.ledger import Entry
from refund_service.domain.refund import Refund, RefundStatus
from refund_service.domain.summary import Summary
from refund_service.service.ports import (
    Change,
    ConcurrentUpdateError,
    Head,
    KeyClaim,
    PendingRefundRef,
    TransactionState,
    read_before,
)


def _head(head: Head) -> Head:
    return replace(head, chargebacks=dict(head.chargebacks))  # Chargeback itself is frozen


def _refund(refund: Refund) -> Refund:
    return replace(refund, metadata=deepcopy(refund.metadata), processor=deepcopy(refund.processor))


def _audit(record: AuditRecord) -> AuditRecord:
    return replace(record, details=deepcopy(record.details))


@dataclass
class _Partition:
    """One transaction's items, as the ledger table's partition and the audit table's hold them."""

    head: Head | None = None
    entries: dict[int, Entry] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    audit: dict[int, AuditRecord] = field(default_factory=dict)
    key_pointers: dict[str, KeyClaim] = field(default_factory=dict)  # by idempotency key


class InMemoryLedgerStore:
    def __init__(self) -> None:
        self._partitions: dict[str, _Partition] = {}
        self._aliases: dict[str, str] = {}  # processor payment id -> transaction id
        self._lock = threading.Lock()
        self.commits = 0  # successful commits, so a test can tell "nothing was written"

    def _partition(self, transaction_id: str) -> _Partition:
        return self._partitions.setdefault(transaction_id, _Partition())

    # --- reads --------------------------------------------------------------------------------

    def load(self, transaction_id: str) -> TransactionState:
        with self._lock:
            part = self._partitions.get(transaction_id) or _Partition()
            head = _head(part.head) if part.head else Head(Summary(transaction_id))
            entries = tuple(part.entries[seq] for seq in sorted(part.entries))  # frozen
            refunds = {rid: _refund(r) for rid, r in part.refunds.items()}
            return TransactionState(head, entries, refunds, deepcopy(part.outcomes))

    def load_for_refund(self, transaction_id: str, idempotency_key: str | None) -> TransactionState:
        with self._lock:
            part = self._partitions.get(transaction_id) or _Partition()
            head = _head(part.head) if part.head else Head(Summary(transaction_id))
            claim = None
            if idempotency_key is not None:
                claim = part.key_pointers.get(idempotency_key) or KeyClaim(idempotency_key)
        if head.summary.exists and head.payment_reference is None:  # recorded before pointers
            return replace(self.load(transaction_id), key_claim=claim)
        if claim is None or claim.refund_id is None:
            return TransactionState(head, key_claim=claim)
        return replace(self._with_refunds(head, claim.named()), key_claim=claim)

    def load_refund(self, transaction_id: str, refund_id: str) -> TransactionState:
        return self._with_refunds(self.load_head(transaction_id), (refund_id,))

    def _with_refunds(self, head: Head, refund_ids: tuple[str, ...]) -> TransactionState:
        with self._lock:
            part = self._partitions.get(head.summary.transaction_id) or _Partition()
            refunds = {rid: part.refunds[rid] for rid in refund_ids if rid in part.refunds}
            for refund_id, refund in refunds.items():
                if read_before(head, refund):
                    raise ConcurrentUpdateError(f"{refund_id} changed after its head was read")
            seqs = sorted(s for refund in refunds.values() for s in refund.entry_seqs)
            entries = tuple(part.entries[s] for s in seqs if s in part.entries)
            kept = part.outcomes
            outcomes = {rid: deepcopy(kept[rid]) for rid in refunds if rid in kept}
            copies = {rid: _refund(refund) for rid, refund in refunds.items()}
            return TransactionState(head, entries, copies, outcomes)

    def find_refund(self, refund_id: str) -> str | None:
        with self._lock:
            for transaction_id, part in self._partitions.items():
                if refund_id in part.refunds:
                    return transaction_id
            return None

    def find_payment(self, processor_reference: str) -> str | None:
        with self._lock:
            return self._aliases.get(processor_reference)

    def pending_refunds(self, older_than: datetime, limit: int) -> list[PendingRefundRef]:
        # The index compares ISO strings, not moments: so does this.
        cutoff = older_than.isoformat()
        with self._lock:
            refs = [
                PendingRefundRef(r.transaction_id, r.refund_id, r.pending_since)
                for part in self._partitions.values()
                for r in part.refunds.values()
                if r.status is RefundStatus.PENDING and r.pending_since and r.pending_since < cutoff
            ]
        refs.sort(key=lambda ref: (ref.pending_since, ref.transaction_id, ref.refund_id))
        return refs[:limit]

    def audit_records(self, transaction_id: str) -> list[AuditRecord]:
        with self._lock:
            part = self._partitions.get(transaction_id) or _Partition()
            return [_audit(part.audit[seq]) for seq in sorted(part.audit)]

    def load_head(self, transaction_id: str) -> Head:
        return self.load(transaction_id).head

    def entries_page(
        self, transaction_id: str, after_seq: int, limit: int
    ) -> tuple[list[Entry], bool]:
        later = [e for e in self.load(transaction_id).entries if e.seq > after_seq]
        return later[:limit], len(later) > limit

    def iter_audit_records(self, transaction_id: str) -> Iterator[AuditRecord]:
        return iter(self.audit_records(transaction_id))

    def refunds_created_between(
        self, since: datetime, until: datetime
    ) -> Iterator[tuple[str, str]]:
        with self._lock:
            found = sorted(
                (r.created_at, r.transaction_id, r.refund_id)
                for part in self._partitions.values()
                for r in part.refunds.values()
                if since <= datetime.fromisoformat(r.created_at) < until
            )
        return iter([(tid, rid) for _, tid, rid in found])

    def transaction_ids(self) -> Iterator[str]:
        with self._lock:
            ids = [
                tid
                for tid, part in self._partitions.items()
                if part.head is not None and part.head.summary.exists
            ]
        return iter(ids)

    # --- writes -------------------------------------------------------------------------------

    def keep_outcome(self, transaction_id: str, refund_id: str, result: dict[str, Any]) -> None:
        with self._lock:
            self._partition(transaction_id).outcomes.setdefault(refund_id, deepcopy(result))

    def commit(self, change: Change) -> None:
        transaction_id = change.head.summary.transaction_id
        with self._lock:
            part = self._partitions.get(transaction_id) or _Partition()
            self._check(part, change)
            part = self._partition(transaction_id)
            part.head = _head(replace(change.head, stored=True))
            part.entries.update({e.seq: e for e in change.entries})
            part.refunds.update({r.refund_id: _refund(r) for r in change.refunds})
            for record in change.audit:
                self._partition(record.transaction_id).audit[record.seq] = _audit(record)
            self._aliases.update({alias: transaction_id for alias in change.payment_aliases})
            if change.key_move is not None:
                move = change.key_move
                part.key_pointers[move.key] = KeyClaim(move.key, move.refund_id, move.earlier)
            self.commits += 1

    def _check(self, part: _Partition, change: Change) -> None:
        """Every condition of the change, before anything is written."""
        expected = change.expected
        if expected.stored:
            moved = part.head is None or part.head.chain != expected.chain
        else:
            moved = part.head is not None
        if change.repeat_guard is not None and part.head is not None:
            fingerprint, count = change.repeat_guard
            tally = part.head.repeats.get(fingerprint)
            moved = moved or tally is None or tally.count != count
        if moved:
            raise ConcurrentUpdateError(
                f"{change.head.summary.transaction_id}: the head moved on since it was read"
            )
        taken = [f"entry {e.seq}" for e in change.entries if e.seq in part.entries]
        taken += [
            f"audit record {a.seq}"
            for a in change.audit
            if a.seq in self._audit_of(a.transaction_id)
        ]
        taken += [f"payment alias {p}" for p in change.payment_aliases if p in self._aliases]
        move = change.key_move
        if move is not None and _named(part, move.key) != move.expected:
            taken.append(f"the pointer of key {move.key!r}")
        guard = change.key_guard
        if guard is not None and _named(part, guard.key) != guard.refund_id:
            taken.append(f"the pointer of key {guard.key!r}, since it was read")
        if taken:
            raise ConcurrentUpdateError(f"already written: {', '.join(taken)}")

    def _audit_of(self, transaction_id: str) -> dict[int, AuditRecord]:
        part = self._partitions.get(transaction_id)
        return part.audit if part else {}


def _named(part: _Partition, key: str) -> str | None:
    """The refund a key's pointer names now; None when there is no pointer."""
    pointer = part.key_pointers.get(key)
    return pointer.refund_id if pointer is not None else None
