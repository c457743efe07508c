"""The answer models (api/models.py) of domain objects, field for field as SPEC section 4 names
them. The resolver serializes them, so what the OpenAPI document declares is what is sent."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from refund_service.api.models import (
    AuditRecordModel,
    AuditResponse,
    ChainModel,
    ChargebackModel,
    ChargebackResponse,
    EntryModel,
    FxQuoteModel,
    InitiatorModel,
    LedgerPageResponse,
    LedgerResponse,
    PostingModel,
    ProcessorResultModel,
    RefundFields,
    RefundFound,
    RefundResponse,
    RepeatedRefusalModel,
    ReportRowModel,
    SummaryModel,
)
from refund_service.domain.audit import AuditRecord, ChainVerification, Initiator, RepeatTally
from refund_service.domain.chargeback import Chargeback
from refund_service.domain.ledger import Entry, FxQuote, Posting
from refund_service.domain.refund import Refund
from refund_service.domain.summary import Summary
from refund_service.service.ports import TransactionState
from refund_service.service.queries import AuditView, LedgerPage, RefundView
from refund_service.service.search import IndexedRefund, ReportRow


def summary_view(summary: Summary) -> SummaryModel:
    return SummaryModel(
        transaction_id=summary.transaction_id,
        status=summary.status.value,
        payment_status=summary.payment_status.value if summary.payment_status else None,
        currency=summary.currency,
        captured_amount=summary.captured_amount,
        captured_at=summary.captured_at,
        refunded_amount=summary.refunded_amount,
        pending_refund_amount=summary.pending_refund_amount,
        refundable_amount=summary.refundable_amount,
        tax_amount=summary.tax_amount,
        tax_refunded_amount=summary.tax_refunded_amount,
        fee_amount=summary.fee_amount,
        fee_refunded_amount=summary.fee_refunded_amount,
        chargeback_amount=summary.chargeback_amount,
        settlement_currency=summary.settlement_currency,
        fx_rate=summary.fx_rate,
        fx_adjustment_amount=summary.fx_adjustment_amount,
        refund_count=summary.refund_count,
        version=summary.version,
    )


def fx_view(quote: FxQuote | None) -> FxQuoteModel | None:
    return FxQuoteModel(**asdict(quote)) if quote else None


def posting_view(posting: Posting) -> PostingModel:
    return PostingModel(
        account=posting.account.value,
        direction=posting.direction.value,
        amount=posting.amount,
        currency=posting.currency,
    )


def entry_view(entry: Entry) -> EntryModel:
    return EntryModel(
        entry_id=entry.entry_id,
        seq=entry.seq,
        type=entry.type.value,
        created_at=entry.created_at,
        refund_id=entry.refund_id,
        currency=entry.currency,
        amount=entry.amount,
        postings=[posting_view(p) for p in entry.postings],
        tax_amount=entry.tax_amount or None,
        fee_amount=entry.fee_amount or None,
        payment_status=entry.payment_status.value if entry.payment_status else None,
        fx=fx_view(entry.fx),
        reverses_entry_id=entry.reverses_entry_id,
        reference=entry.reference,
        note=entry.note,
    )


def ledger_view(state: TransactionState) -> LedgerResponse:
    return LedgerResponse(
        summary=summary_view(state.summary), entries=[entry_view(e) for e in state.entries]
    )


def ledger_page_view(page: LedgerPage) -> LedgerPageResponse:
    return LedgerPageResponse(
        summary=summary_view(page.summary),
        entries=[entry_view(e) for e in page.entries],
        next_cursor=page.next_cursor,
    )


def chargeback_view(chargeback: Chargeback, state: TransactionState) -> ChargebackResponse:
    return ChargebackResponse(
        chargeback_id=chargeback.chargeback_id,
        chargeback=ChargebackModel(**{**asdict(chargeback), "status": chargeback.status.value}),
        summary=summary_view(state.summary),
        entries=[entry_view(e) for e in state.entries],
    )


def _processor_view(stored: dict[str, Any]) -> ProcessorResultModel:
    """The declared fields of a stored processor answer: a key a later version adds to stored
    records must not turn reading an old refund into an error."""
    fields = ProcessorResultModel.model_fields
    return ProcessorResultModel(**{key: value for key, value in stored.items() if key in fields})


def _refund_fields(refund: Refund) -> RefundFields:
    processor = _processor_view(refund.processor) if refund.processor else None
    return RefundFields(
        refund_transaction_id=refund.refund_id,
        transaction_id=refund.transaction_id,
        status=refund.status.value,
        amount=refund.amount,
        currency=refund.currency,
        tax_amount=refund.tax_amount,
        fee_amount=refund.fee_amount,
        reason=refund.reason,
        metadata=refund.metadata,
        processor=processor,
        requested_amount=refund.requested_amount,
        requested_currency=refund.requested_currency,
        conversion=fx_view(refund.conversion),
        created_at=refund.created_at,
        updated_at=refund.updated_at,
    )


def refund_view(refund: Refund, entries: tuple[Entry, ...] = ()) -> RefundResponse:
    fields = _refund_fields(refund)
    return RefundResponse(**dict(fields), entries=[entry_view(e) for e in entries])


def refund_detail_view(view: RefundView) -> RefundResponse:
    return refund_view(view.refund, view.entries)


def found_view(found: IndexedRefund) -> RefundFound:
    """A refund as `GET /refunds/{id}` shows it, without its entries, with its FX adjustment."""
    fields = _refund_fields(found.refund)
    return RefundFound(**dict(fields), fx_adjustment_amount=found.fx_adjustment_amount)


def row_view(row: ReportRow) -> ReportRowModel:
    return ReportRowModel(
        currency=row.currency,
        status=row.status.value,
        count=row.count,
        amount=row.amount,
        tax_amount=row.tax_amount,
        fee_amount=row.fee_amount,
        fx_adjustment_amount=row.fx_adjustment_amount,
    )


def initiator_view(initiator: Initiator) -> InitiatorModel:
    return InitiatorModel.model_validate(initiator.public_view())


def audit_record_view(record: AuditRecord) -> AuditRecordModel:
    return AuditRecordModel(
        seq=record.seq,
        action=record.action.value,
        timestamp=record.timestamp,
        transaction_id=record.transaction_id,
        refund_id=record.refund_id,
        amount=record.amount,
        currency=record.currency,
        initiator=initiator_view(record.initiator),
        details=record.details,
        correlation_id=record.correlation_id,
        prev_hash=record.prev_hash,
        hash=record.hash,
    )


def chain_view(chain: ChainVerification) -> ChainModel:
    if chain.valid:
        return ChainModel(valid=True, length=chain.length)
    return ChainModel(
        valid=False,
        length=chain.length,
        first_invalid_seq=chain.first_invalid_seq,
        reason=chain.reason,
    )


def repeat_view(tally: RepeatTally) -> RepeatedRefusalModel:
    return RepeatedRefusalModel(
        action=tally.action,
        error_code=tally.error_code,
        initiator_id=tally.initiator_id,
        first_at=tally.first_at,
        last_at=tally.last_at,
        count=tally.count,
        recorded=tally.recorded,
        first_seq=tally.first_seq,
    )


def audit_view(view: AuditView) -> AuditResponse:
    return AuditResponse(
        records=[audit_record_view(r) for r in view.records],
        chain=chain_view(view.chain),
        repeated_refusals=[repeat_view(tally) for tally in view.repeats],
        next_cursor=view.next_cursor,
    )
