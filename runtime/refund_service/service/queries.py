"""Reads: a refund, a ledger, an audit trail; and `verify` for one transaction or all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from refund_service.domain.audit import AuditRecord, ChainVerification, verify_chain
from refund_service.domain.errors import DomainError, ErrorCode, UnbalancedJournalError
from refund_service.domain.ids import parse_refund_id
from refund_service.domain.ledger import Entry
from refund_service.domain.refund import Refund
from refund_service.domain.summary import Mismatch, structural_violations, verify
from refund_service.service.ports import LedgerStore, TransactionState


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


@dataclass(frozen=True)
class AuditView:
    records: list[AuditRecord]
    chain: ChainVerification


def get_audit(store: LedgerStore, transaction_id: str) -> AuditView:
    head = store.load(transaction_id).head
    # Records committed after the head was read belong to a later chain head: leave them out.
    records = [r for r in store.audit_records(transaction_id) if r.seq <= head.chain.seq]
    if not head.stored and not records:
        raise DomainError(
            ErrorCode.TRANSACTION_NOT_FOUND,
            "Transaction not found.",
            {"transaction_id": transaction_id},
        )
    return AuditView(records, verify_chain(records, head.chain))


@dataclass(frozen=True)
class Verification:
    transaction_id: str
    mismatch: Mismatch | None
    chain: ChainVerification
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.mismatch is None and self.chain.valid and not self.problems


def verify_transaction(store: LedgerStore, transaction_id: str) -> Verification:
    """Recompute the summary from the entries and check the audit chain."""
    try:
        state = store.load(transaction_id)
    except UnbalancedJournalError as error:
        broken = Mismatch(transaction_id, "postings", "balanced", str(error))
        return Verification(transaction_id, broken, ChainVerification(True, 0))
    chain = verify_chain(store.audit_records(transaction_id), state.head.chain)
    mismatch = verify(state.summary, state.entries)
    return Verification(
        transaction_id, mismatch, chain, tuple(structural_violations(state.summary))
    )


@dataclass(frozen=True)
class VerifyAllReport:
    checked: int
    failures: list[Verification]

    @property
    def first_failure(self) -> Verification | None:
        return self.failures[0] if self.failures else None


def verify_all(store: LedgerStore, transaction_ids: Iterable[str] | None = None) -> VerifyAllReport:
    checked, failures = 0, []
    for transaction_id in transaction_ids or store.transaction_ids():
        checked += 1
        result = verify_transaction(store, transaction_id)
        if not result.ok:
            failures.append(result)
    return VerifyAllReport(checked, failures)
