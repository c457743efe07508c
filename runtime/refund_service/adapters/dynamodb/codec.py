"""Mapping between domain objects and DynamoDB items (low-level attribute-value form)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, fields
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from refund_service.adapters.dynamodb import refund_index
from refund_service.domain.audit import (
    AuditAction,
    AuditRecord,
    ChainHead,
    Initiator,
    RepeatTally,
)
from refund_service.domain.chargeback import Chargeback, ChargebackStatus
from refund_service.domain.ledger import (
    Account,
    Direction,
    Entry,
    EntryType,
    FxQuote,
    PaymentStatus,
    Posting,
)
from refund_service.domain.refund import Refund, RefundStatus
from refund_service.domain.summary import Summary
from refund_service.service.ports import Head
from refund_service.storage.schema import PENDING_BUCKET, anchor_bucket

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

HEAD_SK = "HEAD"
ENTRY_PREFIX = "ENTRY#"
REFUND_PREFIX = "REFUND#"
AUDIT_PREFIX = "AUDIT#"
OUTCOME_PREFIX = "OUTCOME#"
KEY_PREFIX = "KEY#"


def partition_key(transaction_id: str) -> str:
    return f"TXN#{transaction_id}"


def entry_sk(seq: int) -> str:
    return f"{ENTRY_PREFIX}{seq:08d}"


def audit_sk(seq: int) -> str:
    return f"{AUDIT_PREFIX}{seq:08d}"


def refund_sk(refund_id: str) -> str:
    return f"{REFUND_PREFIX}{refund_id}"


def outcome_sk(refund_id: str) -> str:
    return f"{OUTCOME_PREFIX}{refund_id}"


def key_sk(idempotency_key: str) -> str:
    """The pointer of an idempotency key: a digest, since a key is the caller's text of any
    length and a sort key holds at most 1 KB."""
    return KEY_PREFIX + hashlib.sha256(idempotency_key.encode()).hexdigest()


def item_key(transaction_id: str, sk: str) -> dict[str, Any]:
    """The low-level primary key of one item of a transaction's partition."""
    return {"pk": {"S": partition_key(transaction_id)}, "sk": {"S": sk}}


def key_pointer_item(
    transaction_id: str, idempotency_key: str, refund_id: str, earlier: tuple[str, ...] = ()
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": partition_key(transaction_id),
        "sk": key_sk(idempotency_key),
        "refund_id": refund_id,
    }
    if earlier:
        item["earlier"] = list(earlier)
    return item


def payment_alias_key(processor_reference: str) -> dict[str, str]:
    return {"pk": f"PAYREF#{processor_reference}", "sk": "ALIAS"}


def payment_alias_item(processor_reference: str, transaction_id: str) -> dict[str, str]:
    return {**payment_alias_key(processor_reference), "transaction_id": transaction_id}


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; ours are all integers."""
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError(f"non-integer number in the ledger: {value}")
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def _fx_to_item(fx: FxQuote | None) -> dict[str, str] | None:
    return asdict(fx) if fx else None


def _fx_from_item(value: dict[str, str] | None) -> FxQuote | None:
    return FxQuote(**value) if value else None


# --- head -------------------------------------------------------------------------------------


def head_to_item(head: Head, now: str) -> dict[str, Any]:
    summary = head.summary
    item: dict[str, Any] = {
        "pk": partition_key(summary.transaction_id),
        "sk": HEAD_SK,
        "transaction_id": summary.transaction_id,
        "audit_seq": head.chain.seq,
        "audit_hash": head.chain.hash,
        "request_digest": head.request_digest,
        "customer_reference": head.customer_reference,
        "payment_reference": head.payment_reference,
        "updated_at": now,
    }
    if summary.exists:
        item["summary"] = {
            k: (v.value if hasattr(v, "value") else v) for k, v in asdict(summary).items()
        }
    if now:  # the head enters the anchoring index under the hour it changed
        item["anchor_bucket"] = anchor_bucket(summary.transaction_id, now[:13])
    if head.repeats:
        item["repeats"] = {fp: asdict(tally) for fp, tally in head.repeats.items()}
    if head.chargebacks:
        item["chargebacks"] = {
            cid: {**asdict(c), "status": c.status.value} for cid, c in head.chargebacks.items()
        }
    return item


def _chargeback_from_item(value: dict[str, Any]) -> Chargeback:
    return Chargeback(**{**value, "status": ChargebackStatus(value["status"])})


def head_from_item(item: dict[str, Any]) -> Head:
    raw = item.get("summary")
    if raw:
        values = {f.name: raw.get(f.name) for f in fields(Summary) if f.name in raw}
        if values.get("payment_status"):
            values["payment_status"] = PaymentStatus(values["payment_status"])
        summary = Summary(**values)
    else:
        summary = Summary(item["transaction_id"])
    return Head(
        summary=summary,
        chain=ChainHead(item["audit_seq"], item["audit_hash"]),
        request_digest=item.get("request_digest"),
        customer_reference=item.get("customer_reference"),
        chargebacks={
            cid: _chargeback_from_item(c) for cid, c in (item.get("chargebacks") or {}).items()
        },
        repeats={fp: RepeatTally(**t) for fp, t in (item.get("repeats") or {}).items()},
        stored=True,
        payment_reference=item.get("payment_reference"),
    )


# --- entries ----------------------------------------------------------------------------------


def entry_to_item(entry: Entry) -> dict[str, Any]:
    item = {k: v for k, v in asdict(entry).items() if k not in ("postings", "fx")}
    item.update(
        pk=partition_key(entry.transaction_id),
        sk=entry_sk(entry.seq),
        entry_id=entry.entry_id,
        type=entry.type.value,
        payment_status=entry.payment_status.value if entry.payment_status else None,
        reverses_type=entry.reverses_type.value if entry.reverses_type else None,
        postings=[
            {
                "account": p.account.value,
                "direction": p.direction.value,
                "amount": p.amount,
                "currency": p.currency,
            }
            for p in entry.postings
        ],
        fx=_fx_to_item(entry.fx),
    )
    return item


def entry_from_item(item: dict[str, Any]) -> Entry:
    postings = tuple(
        Posting(Account(p["account"]), Direction(p["direction"]), p["amount"], p["currency"])
        for p in item["postings"]
    )
    names = {f.name for f in fields(Entry)} - {
        "postings",
        "fx",
        "type",
        "payment_status",
        "reverses_type",
    }
    values: dict[str, Any] = {k: item.get(k) for k in names if k in item}
    return Entry(
        postings=postings,
        type=EntryType(item["type"]),
        payment_status=PaymentStatus(item["payment_status"])
        if item.get("payment_status")
        else None,
        reverses_type=EntryType(item["reverses_type"]) if item.get("reverses_type") else None,
        fx=_fx_from_item(item.get("fx")),
        **values,
    )


# --- refunds ----------------------------------------------------------------------------------


def refund_to_item(refund: Refund) -> dict[str, Any]:
    """The refund record with its search-index attributes, derived from the refund, so every
    write of the refund carries them."""
    item = asdict(refund)
    item.update(
        pk=partition_key(refund.transaction_id),
        sk=refund_sk(refund.refund_id),
        refund_key=refund.refund_id,
        status=refund.status.value,
        entry_seqs=list(refund.entry_seqs),
        conversion=_fx_to_item(refund.conversion),
        **refund_index.index_attributes(refund),
    )
    if refund.status is RefundStatus.PENDING and refund.pending_since:
        item["pending_bucket"] = PENDING_BUCKET  # only pending refunds enter the sparse index
    return item


def refund_from_item(item: dict[str, Any]) -> Refund:
    names = {f.name for f in fields(Refund)} - {"status", "entry_seqs", "conversion"}
    values: dict[str, Any] = {k: item.get(k) for k in names if k in item}
    return Refund(
        status=RefundStatus(item["status"]),
        entry_seqs=tuple(item.get("entry_seqs", ())),
        conversion=_fx_from_item(item.get("conversion")),
        **values,
    )


# --- audit ------------------------------------------------------------------------------------


def audit_to_item(record: AuditRecord) -> dict[str, Any]:
    item = asdict(record)
    item.update(
        pk=partition_key(record.transaction_id),
        sk=audit_sk(record.seq),
        action=record.action.value,
        initiator_key=f"{record.initiator.type}#{record.initiator.id}",
    )
    return item


def audit_from_item(item: dict[str, Any]) -> AuditRecord:
    names = {f.name for f in fields(AuditRecord)} - {"action", "initiator"}
    values: dict[str, Any] = {k: item.get(k) for k in names if k in item}
    values.setdefault("details", {})
    return AuditRecord(
        action=AuditAction(item["action"]),
        initiator=Initiator(**item["initiator"]),
        **values,
    )
