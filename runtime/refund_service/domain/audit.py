"""The audit trail: records linked in a SHA-256 hash chain.

Each record holds the hash of the one before it; its own hash covers a canonical JSON form of
every other field. Editing, removing or reordering any record breaks the chain, and the chain
head kept with the ledger summary catches a record removed from the end.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

GENESIS_HASH = "0" * 64


class AuditAction(StrEnum):
    PAYMENT_RECORDED = "PAYMENT_RECORDED"
    PAYMENT_COMPLETED = "PAYMENT_COMPLETED"
    CHARGEBACK_RECORDED = "CHARGEBACK_RECORDED"
    LEDGER_QUERIED = "LEDGER_QUERIED"
    REFUND_REQUESTED = "REFUND_REQUESTED"
    REFUND_REJECTED = "REFUND_REJECTED"
    REFUND_VALIDATED = "REFUND_VALIDATED"
    REFUND_PENDING = "REFUND_PENDING"
    PROCESSOR_RESPONDED = "PROCESSOR_RESPONDED"
    REFUND_SUCCEEDED = "REFUND_SUCCEEDED"
    REFUND_FAILED = "REFUND_FAILED"
    REFUND_LEFT_PENDING = "REFUND_LEFT_PENDING"
    REFUND_ROLLED_BACK = "REFUND_ROLLED_BACK"
    ROLLBACK_REJECTED = "ROLLBACK_REJECTED"
    CHARGEBACK_RESOLVED = "CHARGEBACK_RESOLVED"
    CHARGEBACK_REJECTED = "CHARGEBACK_REJECTED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    # The final count of identical refusals whose window closed after the last attested one.
    REFUSALS_COUNTED = "REFUSALS_COUNTED"


@dataclass(frozen=True)
class Initiator:
    """Who caused a record. `email` and `source_ip` are stored only as ciphertext."""

    type: str  # "user" | "system"
    id: str
    email_ciphertext: str | None = None
    source_ip_ciphertext: str | None = None

    def public_view(self) -> dict[str, Any]:
        view: dict[str, Any] = {"type": self.type, "id": self.id}
        encrypted = [
            name
            for name, value in (
                ("email", self.email_ciphertext),
                ("source_ip", self.source_ip_ciphertext),
            )
            if value
        ]
        if encrypted:
            view["encrypted_fields"] = encrypted
        return view


SYSTEM_RECONCILER = Initiator("system", "reconciler")


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    action: AuditAction
    timestamp: str
    transaction_id: str
    initiator: Initiator
    refund_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def hashed_content(self) -> dict[str, Any]:
        content = asdict(self)
        content.pop("hash")
        return content


def canonical_json(value: Any) -> str:
    """One byte-exact form per value: sorted keys, no spaces, ASCII only; no floats."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_refuse
    )


def _refuse(value: Any) -> Any:
    raise TypeError(f"not canonically serializable: {type(value).__name__}")


def _check_no_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("floats have no place in an audit record")
    if isinstance(value, dict):
        for item in value.values():
            _check_no_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_no_floats(item)


def record_hash(record: AuditRecord) -> str:
    content = record.hashed_content()
    _check_no_floats(content)
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def digest(value: Any) -> str:
    """SHA-256 of a value's canonical JSON: what a ledger query returned, in 64 characters."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


@dataclass(frozen=True)
class ChainHead:
    seq: int = 0
    hash: str = GENESIS_HASH


def chain(head: ChainHead, records: list[AuditRecord]) -> tuple[list[AuditRecord], ChainHead]:
    """Number and link new records after `head`; returns them sealed and the new head."""
    sealed = []
    for record in records:
        linked = replace(record, seq=head.seq + 1, prev_hash=head.hash)
        linked = replace(linked, hash=record_hash(linked))
        sealed.append(linked)
        head = ChainHead(linked.seq, linked.hash)
    return sealed, head


def _safe_hash(record: AuditRecord) -> str | None:
    """The hash, or None for content that could never have been hashed (tampered with)."""
    try:
        return record_hash(record)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class ChainVerification:
    valid: bool
    length: int
    first_invalid_seq: int | None = None
    reason: str | None = None


class ChainVerifier:
    """`verify_chain` one record at a time, so a long chain is checked in bounded memory."""

    def __init__(self) -> None:
        self.length = 0
        self._previous = GENESIS_HASH
        self._failure: ChainVerification | None = None

    def feed(self, record: AuditRecord) -> None:
        if self._failure is not None:
            self.length += 1
            return
        self.length += 1
        problem = None
        if record.seq != self.length:
            problem = f"expected record {self.length}, found {record.seq}"
        elif record.prev_hash != self._previous:
            problem = "link to the previous record is broken"
        elif record.hash != _safe_hash(record):
            problem = "record content does not match its hash"
        if problem:
            self._failure = ChainVerification(False, 0, self.length, problem)
        self._previous = record.hash

    def result(self, head: ChainHead | None = None) -> ChainVerification:
        if self._failure is not None:
            return replace(self._failure, length=self.length)
        if head is not None and (head.seq != self.length or head.hash != self._previous):
            return ChainVerification(
                False,
                self.length,
                min(head.seq, self.length) + 1,
                "chain head does not match the last record",
            )
        return ChainVerification(True, self.length)


def verify_chain(records: list[AuditRecord], head: ChainHead | None = None) -> ChainVerification:
    """Check sequence, links and hashes; with `head`, also that nothing was cut from the end."""
    verifier = ChainVerifier()
    for record in records:
        verifier.feed(record)
    return verifier.result(head)


@dataclass(frozen=True)
class RepeatTally:
    """Identical refusals of one caller on one transaction within a window, kept on the head.

    `recorded` is the count the audit chain last attested; the chain gets a record each time
    `count` reaches a power of two, so N repeats leave about log2(N) records.
    """

    fingerprint: str
    action: str
    error_code: str
    initiator_id: str
    first_at: str
    last_at: str
    count: int = 1
    recorded: int = 1
    first_seq: int = 0
