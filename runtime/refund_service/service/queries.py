"""Reads: a refund, a ledger, an audit trail; and `verify` for one transaction or all."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from refund_service.domain.audit import (
    AuditRecord,
    ChainVerification,
    ChainVerifier,
    RepeatTally,
    verify_chain,
)
from refund_service.domain.errors import DomainError, ErrorCode, UnbalancedJournalError
from refund_service.domain.ids import parse_refund_id
from refund_service.domain.ledger import Entry
from refund_service.domain.refund import Refund
from refund_service.domain.summary import Mismatch, Summary, structural_violations, verify
from refund_service.service.anchoring import AnchorCheck, AnchorStore, check_anchor
from refund_service.service.ports import LedgerStore, TransactionState

DEFAULT_PAGE_LIMIT = 200
MAX_PAGE_LIMIT = 1000
# Lambda answers at most 6 MB; a page stops growing past this many bytes of its items.
PAGE_BYTE_BUDGET = 4 * 1024 * 1024


def load_transaction(store: LedgerStore, transaction_id: str) -> TransactionState:
    state = store.load(transaction_id)
    if not state.summary.exists:
        raise DomainError(
            ErrorCode.TRANSACTION_NOT_FOUND,
            "Transaction not found.",
            {"transaction_id": transaction_id},
        )
    return state


def locate_refund(store: LedgerStore, refund_id: str) -> str:
    """The transaction a refund belongs to: from its id where it parses, else the index."""
    parsed = parse_refund_id(refund_id)
    transaction_id = parsed[0] if parsed else store.find_refund(refund_id)
    if transaction_id is None:
        raise DomainError(ErrorCode.REFUND_NOT_FOUND, "Refund not found.", {"refund_id": refund_id})
    return transaction_id


@dataclass(frozen=True)
class RefundView:
    refund: Refund
    entries: tuple[Entry, ...]


def get_refund(store: LedgerStore, refund_id: str) -> RefundView:
    state = store.load(locate_refund(store, refund_id))
    refund = state.refunds.get(refund_id)
    if refund is None:
        raise DomainError(ErrorCode.REFUND_NOT_FOUND, "Refund not found.", {"refund_id": refund_id})
    return RefundView(refund, tuple(e for e in state.entries if e.refund_id == refund_id))


# --- pages ------------------------------------------------------------------------------------


def _invalid_cursor() -> DomainError:
    return DomainError(
        ErrorCode.VALIDATION_ERROR,
        "The request is not valid.",
        {"errors": [{"loc": ["query", "cursor"], "msg": "not a cursor of this listing"}]},
    )


def encode_cursor(listing: str, transaction_id: str, after_seq: int) -> str:
    """Opaque to clients: where the next page starts, bound to its listing and transaction."""
    raw = json.dumps([listing, transaction_id, after_seq], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, listing: str, transaction_id: str) -> int:
    """The seq after which the page starts; 0 without a cursor; VALIDATION_ERROR for any other
    text than a cursor this listing of this transaction handed out."""
    if cursor is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _invalid_cursor() from None
    valid = (
        isinstance(value, list)
        and len(value) == 3
        and value[:2] == [listing, transaction_id]
        and type(value[2]) is int
        and 0 < value[2] < 10**8
        and encode_cursor(listing, transaction_id, value[2]) == cursor
    )
    if not valid:
        raise _invalid_cursor()
    return int(value[2])


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            "The request is not valid.",
            {"errors": [{"loc": ["query", "limit"], "msg": f"1 to {MAX_PAGE_LIMIT}"}]},
        )
    return limit


def _size(item: Any) -> int:
    return len(json.dumps(asdict(item), default=str))


def _not_found(transaction_id: str) -> DomainError:
    return DomainError(
        ErrorCode.TRANSACTION_NOT_FOUND,
        "Transaction not found.",
        {"transaction_id": transaction_id},
    )


T = TypeVar("T")


def _fit(items: Sequence[T], size_of: Callable[[T], int]) -> tuple[list[T], bool]:
    """The leading items within the byte budget (at least one); and whether any were cut."""
    kept: list[T] = []
    used = 0
    for item in items:
        used += size_of(item)
        if kept and used > PAGE_BYTE_BUDGET:
            return kept, True
        kept.append(item)
    return kept, False


@dataclass(frozen=True)
class LedgerPage:
    summary: Summary
    entries: list[Entry]
    next_cursor: str | None


def get_ledger_page(
    store: LedgerStore,
    transaction_id: str,
    limit: int = DEFAULT_PAGE_LIMIT,
    cursor: str | None = None,
) -> LedgerPage:
    """One page of entries with the summary they add up to: entries committed after the head
    was read are left for a later read, so a page never runs ahead of its summary."""
    after_seq = decode_cursor(cursor, "ledger", transaction_id)
    head = store.load_head(transaction_id)
    if not head.summary.exists:
        raise _not_found(transaction_id)
    entries, more = store.entries_page(transaction_id, after_seq, check_limit(limit))
    if entries and entries[-1].seq > head.summary.version:
        entries, more = [e for e in entries if e.seq <= head.summary.version], False
    entries, cut = _fit(entries, _size)
    more = (more or cut) and bool(entries)
    next_cursor = encode_cursor("ledger", transaction_id, entries[-1].seq) if more else None
    return LedgerPage(head.summary, entries, next_cursor)


@dataclass(frozen=True)
class AuditView:
    records: list[AuditRecord]
    chain: ChainVerification
    next_cursor: str | None = None
    repeats: tuple[RepeatTally, ...] = ()


def get_audit(
    store: LedgerStore,
    transaction_id: str,
    limit: int = DEFAULT_PAGE_LIMIT,
    cursor: str | None = None,
) -> AuditView:
    """One page of the audit trail, with `chain` verified over the whole chain.

    The whole chain is read in DynamoDB pages and checked record by record, keeping only this
    page's records: memory stays bounded whatever the chain's length, and `chain.valid`
    means every record from the first to the head is intact, not only those shown.
    """
    after_seq = decode_cursor(cursor, "audit", transaction_id)
    check_limit(limit)
    head = store.load_head(transaction_id)
    verifier = ChainVerifier()
    page: list[AuditRecord] = []
    used, more = 0, False
    for record in store.iter_audit_records(transaction_id):
        if record.seq > head.chain.seq:
            continue  # committed after the head was read: part of a later chain head
        verifier.feed(record)
        if record.seq <= after_seq or more:
            continue
        used += _size(record)
        if len(page) == limit or (page and used > PAGE_BYTE_BUDGET):
            more = True
        else:
            page.append(record)
    if not head.stored and verifier.length == 0:
        raise _not_found(transaction_id)
    next_cursor = encode_cursor("audit", transaction_id, page[-1].seq) if more else None
    repeats = tuple(sorted(head.repeats.values(), key=lambda t: t.first_at))
    return AuditView(page, verifier.result(head.chain), next_cursor, repeats)


@dataclass(frozen=True)
class Verification:
    transaction_id: str
    mismatch: Mismatch | None
    chain: ChainVerification
    problems: tuple[str, ...] = ()
    anchor: AnchorCheck | None = None  # None when no anchor store was given

    @property
    def ok(self) -> bool:
        anchored = self.anchor is None or self.anchor.ok
        return self.mismatch is None and self.chain.valid and not self.problems and anchored

    def described(self) -> dict[str, Any]:
        """What a log line says of a failed verification (no ledger content beyond the field)."""
        mismatch = self.mismatch
        return {
            "transaction_id": self.transaction_id,
            "field": mismatch.field if mismatch else None,
            "stored": str(mismatch.stored) if mismatch else None,
            "recomputed": str(mismatch.recomputed) if mismatch else None,
            "chain_valid": self.chain.valid,
            "chain_reason": self.chain.reason,
            "problems": list(self.problems),
        }


def verify_transaction(
    store: LedgerStore, transaction_id: str, anchors: AnchorStore | None = None
) -> Verification:
    """Recompute the summary from the entries and check the audit chain; with `anchors`, also
    that the chain still holds the record the latest anchor covering it committed to."""
    try:
        state = store.load(transaction_id)
    except UnbalancedJournalError as error:
        broken = Mismatch(transaction_id, "postings", "balanced", str(error))
        return Verification(transaction_id, broken, ChainVerification(True, 0))
    records = store.audit_records(transaction_id)
    chain = verify_chain(records, state.head.chain)
    mismatch = verify(state.summary, state.entries)
    anchor = check_anchor(anchors, transaction_id, records) if anchors is not None else None
    return Verification(
        transaction_id, mismatch, chain, tuple(structural_violations(state.summary)), anchor
    )


@dataclass(frozen=True)
class VerifyAllReport:
    checked: int
    failures: list[Verification]

    @property
    def first_failure(self) -> Verification | None:
        return self.failures[0] if self.failures else None


def verify_all(
    store: LedgerStore,
    transaction_ids: Iterable[str] | None = None,
    anchors: AnchorStore | None = None,
) -> VerifyAllReport:
    checked, failures = 0, []
    for transaction_id in transaction_ids or store.transaction_ids():
        checked += 1
        result = verify_transaction(store, transaction_id, anchors)
        if not result.ok:
            failures.append(result)
    return VerifyAllReport(checked, failures)
