"""Table definitions shared by the CDK stack and the local stack, so the two cannot drift.

PaymentLedger: one partition per transaction (`pk = TXN#<id>`) holding the head item
(summary and audit chain head), the entries, the refund records, kept processor answers and
the pointers of refunds' idempotency keys (decision 0025); a GSI to find a refund by
id, a sparse GSI holding only pending refunds, and a GSI of chain heads by the hour they last
changed (read by the hourly anchoring). PaymentAuditTrail: one partition per
transaction and a GSI by initiator and time. The idempotency table expires records by TTL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    type: str = "S"


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSpec:
    construct_id: str
    default_name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = None
    stream: str | None = None  # the change stream's view type (NEW_IMAGE...), or no stream

    def key_attributes(self) -> list[KeyAttribute]:
        """Every attribute used as a key by the table or one of its indexes, once each."""
        seen: dict[str, KeyAttribute] = {}
        keys = [self.partition_key, self.sort_key]
        for index in self.indexes:
            keys += [index.partition_key, index.sort_key]
        for key in keys:
            if key is not None:
                seen.setdefault(key.name, key)
        return list(seen.values())


REFUND_ID_INDEX = "refund-id"
PENDING_REFUNDS_INDEX = "pending-refunds"
BY_INITIATOR_INDEX = "by-initiator"
PENDING_BUCKET = "PENDING"
CHAIN_HEADS_BY_HOUR_INDEX = "chain-heads-by-hour"
# Heads changed within one hour are spread over this many index partitions, so a busy hour
# cannot exceed one partition's write rate; the anchoring reads them all.
ANCHOR_SHARDS = 16


def anchor_bucket(transaction_id: str, hour: str) -> str:
    """The index partition of a head changed during `hour` (ISO text cut to the hour)."""
    shard = int(hashlib.sha256(transaction_id.encode()).hexdigest()[:8], 16) % ANCHOR_SHARDS
    return f"{hour}#{shard:02d}"


def anchor_buckets(hour: str) -> list[str]:
    """Every index partition of one hour."""
    return [f"{hour}#{shard:02d}" for shard in range(ANCHOR_SHARDS)]


REFUNDS_BY_TRANSACTION_INDEX = "refunds-by-transaction"
REFUNDS_BY_STATUS_INDEX = "refunds-by-status"
REFUNDS_BY_DAY_INDEX = "refunds-by-day"
# A status or a day is one hot partition at scale: each is spread over this many shards by a
# hash of the refund id. Changing it needs every refund record rewritten (decision 0014).
REFUND_SEARCH_SHARDS = 8
# The sort key of all three: `<created_at>#<refund_id>`, newest first when read backwards.
REFUND_SEARCH_SORT = KeyAttribute("search_created")

LEDGER_TABLE = TableSpec(
    construct_id="PaymentLedger",
    default_name="PaymentLedger",
    partition_key=KeyAttribute("pk"),
    sort_key=KeyAttribute("sk"),
    indexes=(
        IndexSpec(REFUND_ID_INDEX, KeyAttribute("refund_key"), projection="KEYS_ONLY"),
        IndexSpec(
            PENDING_REFUNDS_INDEX,
            KeyAttribute("pending_bucket"),
            KeyAttribute("pending_since"),
            projection="INCLUDE",
            non_key_attributes=("transaction_id", "refund_id"),
        ),
        IndexSpec(
            CHAIN_HEADS_BY_HOUR_INDEX,
            KeyAttribute("anchor_bucket"),
            KeyAttribute("transaction_id"),
            projection="INCLUDE",
            non_key_attributes=("audit_seq", "audit_hash"),
        ),
        IndexSpec(REFUNDS_BY_TRANSACTION_INDEX, KeyAttribute("search_txn"), REFUND_SEARCH_SORT),
        IndexSpec(REFUNDS_BY_STATUS_INDEX, KeyAttribute("search_status"), REFUND_SEARCH_SORT),
        IndexSpec(REFUNDS_BY_DAY_INDEX, KeyAttribute("search_day"), REFUND_SEARCH_SORT),
    ),
    # Every committed change, new images only: events and incremental verification (SPEC 4.2).
    stream="NEW_IMAGE",
)

AUDIT_TABLE = TableSpec(
    construct_id="PaymentAuditTrail",
    default_name="PaymentAuditTrail",
    partition_key=KeyAttribute("pk"),
    sort_key=KeyAttribute("sk"),
    indexes=(
        IndexSpec(BY_INITIATOR_INDEX, KeyAttribute("initiator_key"), KeyAttribute("timestamp")),
    ),
)

IDEMPOTENCY_TABLE = TableSpec(
    construct_id="Idempotency",
    default_name="RefundIdempotency",
    partition_key=KeyAttribute("id"),
    ttl_attribute="expiration",
)

# The ECB's daily reference rates, one item per publication day (adapters/dynamodb/fx_rates.py).
FX_RATES_TABLE = TableSpec(
    construct_id="FxRates",
    default_name="RefundFxRates",
    partition_key=KeyAttribute("pk"),
    sort_key=KeyAttribute("day"),
)

ALL_TABLES = (LEDGER_TABLE, AUDIT_TABLE, IDEMPOTENCY_TABLE, FX_RATES_TABLE)


def create_table_request(spec: TableSpec, table_name: str) -> dict[str, Any]:
    """The boto3 `create_table` arguments for a spec (on-demand billing)."""

    def key_schema(pk: KeyAttribute, sk: KeyAttribute | None) -> list[dict[str, str]]:
        schema = [{"AttributeName": pk.name, "KeyType": "HASH"}]
        if sk is not None:
            schema.append({"AttributeName": sk.name, "KeyType": "RANGE"})
        return schema

    request: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": key_schema(spec.partition_key, spec.sort_key),
        "AttributeDefinitions": [
            {"AttributeName": k.name, "AttributeType": k.type} for k in spec.key_attributes()
        ],
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": key_schema(index.partition_key, index.sort_key),
                "Projection": _projection(index),
            }
            for index in spec.indexes
        ]
    if spec.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.stream}
    return request


def _projection(index: IndexSpec) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": index.projection}
    if index.non_key_attributes:
        projection["NonKeyAttributes"] = list(index.non_key_attributes)
    return projection
