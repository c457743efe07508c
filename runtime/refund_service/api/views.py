"""JSON views of domain objects, field for field as SPEC section 4 names them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from refund_service.domain.audit import AuditRecord
from refund_service.domain.chargeback import Chargeback
from refund_service.domain.ledger import Entry
from refund_service.domain.refund import Refund
from refund_service.domain.summary import Summary
from refund_service.service.ports import TransactionState
from refund_service.service.queries import AuditView, LedgerPage, RefundView


def summary_view(summary: Summary) -> dict[str, Any]:
    return {
        "transaction_id": summary.transaction_id,
        "status": summary.status.value,
        "payment_status": summary.payment_status.value if summary.payment_status else None,
        "currency": summary.currency,
        "captured_amount": summary.captured_amount,
        "captured_at": summary.captured_at,
        "refunded_amount": summary.refunded_amount,
        "pending_refund_amount": summary.pending_refund_amount,
        "refundable_amount": summary.refundable_amount,
        "tax_amount": summary.tax_amount,
        "tax_refunded_amount": summary.tax_refunded_amount,
        "fee_amount": summary.fee_amount,
        "fee_refunded_amount": summary.fee_refunded_amount,
        "chargeback_amount": summary.chargeback_amount,
        "settlement_currency": summary.settlement_currency,
        "fx_rate": summary.fx_rate,
        "fx_adjustment_amount": summary.fx_adjustment_amount,
        "refund_count": summary.refund_count,
        "version": summary.version,
    }


def entry_view(entry: Entry) -> dict[str, Any]:
    view: dict[str, Any] = {
        "entry_id": entry.entry_id,
        "seq": entry.seq,
        "type": entry.type.value,
        "created_at": entry.created_at,
        "refund_id": entry.refund_id,
        "currency": entry.currency,
        "amount": entry.amount,
        "postings": [
            {
                "account": p.account.value,
                "direction": p.direction.value,
                "amount": p.amount,
                "currency": p.currency,
            }
            for p in entry.postings
        ],
    }
    optional = {
        "tax_amount": entry.tax_amount or None,
        "fee_amount": entry.fee_amount or None,
        "payment_status": entry.payment_status.value if entry.payment_status else None,
        "fx": asdict(entry.fx) if entry.fx else None,
        "reverses_entry_id": entry.reverses_entry_id,
        "reference": entry.reference,
        "note": entry.note,
    }
    view.update({k: v for k, v in optional.items() if v is not None})
    return view


def ledger_view(state: TransactionState) -> dict[str, Any]:
    return {
        "summary": summary_view(state.summary),
        "entries": [entry_view(e) for e in state.entries],
    }


def ledger_page_view(page: LedgerPage) -> dict[str, Any]:
    return {
        "summary": summary_view(page.summary),
        "entries": [entry_view(e) for e in page.entries],
        "next_cursor": page.next_cursor,
    }


def chargeback_view(chargeback: Chargeback, state: TransactionState) -> dict[str, Any]:
    return {
        "chargeback_id": chargeback.chargeback_id,
        "chargeback": {**asdict(chargeback), "status": chargeback.status.value},
        **ledger_view(state),
    }


def refund_view(refund: Refund, entries: tuple[Entry, ...] = ()) -> dict[str, Any]:
    return {
        "refund_transaction_id": refund.refund_id,
        "transaction_id": refund.transaction_id,
        "status": refund.status.value,
        "amount": refund.amount,
        "currency": refund.currency,
        "tax_amount": refund.tax_amount,
        "fee_amount": refund.fee_amount,
        "reason": refund.reason,
        "metadata": refund.metadata,
        "processor": refund.processor,
        "requested_amount": refund.requested_amount,
        "requested_currency": refund.requested_currency,
        "conversion": asdict(refund.conversion) if refund.conversion else None,
        "created_at": refund.created_at,
        "updated_at": refund.updated_at,
        "entries": [entry_view(e) for e in entries],
    }


def refund_detail_view(view: RefundView) -> dict[str, Any]:
    return refund_view(view.refund, view.entries)


def audit_record_view(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "action": record.action.value,
        "timestamp": record.timestamp,
        "transaction_id": record.transaction_id,
        "refund_id": record.refund_id,
        "amount": record.amount,
        "currency": record.currency,
        "initiator": record.initiator.public_view(),
        "details": record.details,
        "correlation_id": record.correlation_id,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def audit_view(view: AuditView) -> dict[str, Any]:
    chain: dict[str, Any] = {"valid": view.chain.valid, "length": view.chain.length}
    if not view.chain.valid:
        chain.update(first_invalid_seq=view.chain.first_invalid_seq, reason=view.chain.reason)
    return {
        "records": [audit_record_view(r) for r in view.records],
        "chain": chain,
        "repeated_refusals": [
            {k: v for k, v in asdict(tally).items() if k != "fingerprint"} for tally in view.repeats
        ],
        "next_cursor": view.next_cursor,
    }
