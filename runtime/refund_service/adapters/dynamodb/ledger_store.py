"""LedgerStore on DynamoDB: one Query to read a transaction, one TransactWriteItems per change.

Entries and audit records are only ever written on condition that they do not exist yet; the
head is written on condition that it is still the one the change was computed from. Together
these make every change all-or-nothing and serialize changes per transaction.

A refund reads less than the whole partition (decision 0025): the head and its idempotency
key's pointer, then only the refund that pointer names; settling reads the head, then the one
refund, its entries and its kept outcome. What it reads does not grow with the payment's history.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from refund_service.adapters.dynamodb import codec, refund_index
from refund_service.domain.audit import AuditRecord
from refund_service.domain.ledger import Entry
from refund_service.domain.refund import RefundStatus
from refund_service.domain.summary import Summary
from refund_service.service.ports import (
    Change,
    ConcurrentUpdateError,
    Head,
    KeyClaim,
    KeyMove,
    PendingRefundRef,
    TransactionState,
    read_before,
)
from refund_service.service.search import REPORT_PAGE_SIZE, Bounds, IndexedRefund, time_bound
from refund_service.storage.schema import (
    CHAIN_HEADS_BY_HOUR_INDEX,
    PENDING_BUCKET,
    PENDING_REFUNDS_INDEX,
    REFUND_ID_INDEX,
    REFUND_SEARCH_SHARDS,
    REFUNDS_BY_DAY_INDEX,
    REFUNDS_BY_STATUS_INDEX,
    REFUNDS_BY_TRANSACTION_INDEX,
    anchor_buckets,
)

_NOT_EXISTS = "attribute_not_exists(pk)"
_RETRYABLE_CANCEL = {"ConditionalCheckFailed", "TransactionConflict"}
_BATCH_GET_KEYS = 100  # BatchGetItem's limit per request
_UNPROCESSED_RETRIES = 8


class DynamoDBLedgerStore:
    def __init__(self, client: Any, ledger_table: str, audit_table: str):
        self._client = client
        self._ledger = ledger_table
        self._audit = audit_table

    # --- reads --------------------------------------------------------------------------------

    def _query_all(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._client.query(**kwargs)
            for item in page.get("Items", []):
                yield codec.deserialize(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def load(self, transaction_id: str) -> TransactionState:
        items = self._query_all(
            TableName=self._ledger,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": codec.partition_key(transaction_id)}},
            ConsistentRead=True,
        )
        head = Head(Summary(transaction_id))
        entries, refunds, outcomes = [], {}, {}
        for item in items:
            sk = item["sk"]
            if sk == codec.HEAD_SK:
                head = codec.head_from_item(item)
            elif sk.startswith(codec.ENTRY_PREFIX):
                entries.append(codec.entry_from_item(item))
            elif sk.startswith(codec.REFUND_PREFIX):
                refund = codec.refund_from_item(item)
                refunds[refund.refund_id] = refund
            elif sk.startswith(codec.OUTCOME_PREFIX):
                outcomes[item["refund_id"]] = item["result"]
        return TransactionState(head, tuple(entries), refunds, outcomes)

    def load_for_refund(self, transaction_id: str, idempotency_key: str | None) -> TransactionState:
        if idempotency_key is None:
            head, claim = self.load_head(transaction_id), None
        else:
            head, claim = self._head_and_claim(transaction_id, idempotency_key)
        if _recorded_before_pointers(head):
            return replace(self.load(transaction_id), key_claim=claim)
        if claim is None or claim.refund_id is None:
            return TransactionState(head, key_claim=claim)
        return replace(self._with_refunds(head, claim.named()), key_claim=claim)

    def _head_and_claim(self, transaction_id: str, idempotency_key: str) -> tuple[Head, KeyClaim]:
        """The head and the key's pointer in one BatchGetItem: two strongly consistent reads,
        not one snapshot. A pointer newer than the head names a refund `_with_refunds` finds
        newer than the head; one older than the head fails the commit of whatever is decided
        on it (`Change.key_move`, `Change.key_guard`), and the decision is made again."""
        head_sk, pointer_sk = codec.HEAD_SK, codec.key_sk(idempotency_key)
        found = self._get_items(codec.item_key(transaction_id, sk) for sk in (head_sk, pointer_sk))
        head_item, pointer = found.get(head_sk), found.get(pointer_sk)
        head = codec.head_from_item(head_item) if head_item else Head(Summary(transaction_id))
        if pointer is None:
            return head, KeyClaim(idempotency_key)
        earlier = tuple(pointer.get("earlier", ()))
        return head, KeyClaim(idempotency_key, pointer["refund_id"], earlier)

    def _get_item(self, key: dict[str, Any]) -> dict[str, Any] | None:
        """One ledger item by its low-level key, strongly consistent; None when absent."""
        item = self._client.get_item(TableName=self._ledger, Key=key, ConsistentRead=True)
        return codec.deserialize(item["Item"]) if "Item" in item else None

    def load_refund(self, transaction_id: str, refund_id: str) -> TransactionState:
        return self._with_refunds(self.load_head(transaction_id), (refund_id,))

    def _with_refunds(self, head: Head, refund_ids: tuple[str, ...]) -> TransactionState:
        """`head` with some of its refunds, their entries and kept outcomes, read after it."""
        transaction_id = head.summary.transaction_id
        found = self._get_items(
            codec.item_key(transaction_id, sk)
            for refund_id in refund_ids
            for sk in (codec.refund_sk(refund_id), codec.outcome_sk(refund_id))
        )
        refunds, outcomes = {}, {}
        for refund_id in refund_ids:
            item = found.get(codec.refund_sk(refund_id))
            if item is None:
                continue
            refund = codec.refund_from_item(item)
            if read_before(head, refund):  # the pair could mix two moments: read both again
                raise ConcurrentUpdateError(f"{refund_id} changed after its head was read")
            refunds[refund_id] = refund
            if outcome := found.get(codec.outcome_sk(refund_id)):
                outcomes[refund_id] = outcome["result"]
        # Entries never change once written, so reading them last cannot mix two moments.
        entries = self._get_items(
            codec.item_key(transaction_id, codec.entry_sk(seq))
            for refund in refunds.values()
            for seq in refund.entry_seqs
        )
        return TransactionState(
            head,
            tuple(codec.entry_from_item(entries[sk]) for sk in sorted(entries)),
            refunds,
            outcomes,
        )

    def _get_items(self, keys: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Items of one partition by key, strongly consistent, by sort key; absent ones left out."""
        wanted = list(keys)
        found: dict[str, dict[str, Any]] = {}
        for first in range(0, len(wanted), _BATCH_GET_KEYS):
            request: dict[str, Any] = {
                self._ledger: {
                    "Keys": wanted[first : first + _BATCH_GET_KEYS],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(_UNPROCESSED_RETRIES + 1):
                answer = self._client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._ledger, []):
                    plain = codec.deserialize(item)
                    found[plain["sk"]] = plain
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt == _UNPROCESSED_RETRIES:
                    raise RuntimeError(f"{self._ledger}: keys left unread after {attempt} retries")
                time.sleep(min(1.0, 0.025 * 2**attempt))  # the table is throttling: back off
        return found

    def keep_outcome(self, transaction_id: str, refund_id: str, result: dict[str, Any]) -> None:
        item = {
            "pk": codec.partition_key(transaction_id),
            "sk": codec.outcome_sk(refund_id),
            "refund_id": refund_id,
            "result": result,
        }
        # A one-item transaction rather than PutItem: the roles hold no plain PutItem on the
        # ledger, only conditional transactional writes.
        try:
            self._client.transact_write_items(TransactItems=[self._put_new(self._ledger, item)])
        except ClientError as error:
            if not _is_conflict(error):
                raise  # a conflict means an answer is already kept: the first one stays

    def find_refund(self, refund_id: str) -> str | None:
        page = self._client.query(
            TableName=self._ledger,
            IndexName=REFUND_ID_INDEX,
            KeyConditionExpression="refund_key = :r",
            ExpressionAttributeValues={":r": {"S": refund_id}},
            Limit=1,
        )
        items = page.get("Items", [])
        if not items:
            return None
        return str(items[0]["pk"]["S"]).removeprefix("TXN#")

    def find_payment(self, processor_reference: str) -> str | None:
        alias = self._get_item(codec.serialize(codec.payment_alias_key(processor_reference)))
        return str(alias["transaction_id"]) if alias else None

    def pending_refunds(self, older_than: datetime, limit: int) -> list[PendingRefundRef]:
        refs: list[PendingRefundRef] = []
        items = self._query_all(
            TableName=self._ledger,
            IndexName=PENDING_REFUNDS_INDEX,
            KeyConditionExpression="pending_bucket = :b AND pending_since < :t",
            ExpressionAttributeValues={
                ":b": {"S": PENDING_BUCKET},
                ":t": {"S": older_than.isoformat()},
            },
            Limit=limit,
        )
        for item in items:
            refs.append(
                PendingRefundRef(item["transaction_id"], item["refund_id"], item["pending_since"])
            )
            if len(refs) >= limit:
                break
        return refs

    def audit_records(self, transaction_id: str) -> list[AuditRecord]:
        return list(self.iter_audit_records(transaction_id))

    def iter_audit_records(self, transaction_id: str) -> Iterator[AuditRecord]:
        items = self._query_all(
            TableName=self._audit,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": codec.partition_key(transaction_id)}},
            ConsistentRead=True,
        )
        for item in items:
            yield codec.audit_from_item(item)

    def load_head(self, transaction_id: str) -> Head:
        item = self._get_item(codec.item_key(transaction_id, codec.HEAD_SK))
        return codec.head_from_item(item) if item else Head(Summary(transaction_id))

    def entries_page(
        self, transaction_id: str, after_seq: int, limit: int
    ) -> tuple[list[Entry], bool]:
        items = self._query_all(
            TableName=self._ledger,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues={
                ":pk": {"S": codec.partition_key(transaction_id)},
                ":first": {"S": codec.entry_sk(after_seq + 1)},
                ":last": {"S": codec.entry_sk(10**8 - 1)},
            },
            ConsistentRead=True,
            Limit=limit + 1,
        )
        entries: list[Entry] = []
        for item in items:
            if len(entries) == limit:
                return entries, True
            entries.append(codec.entry_from_item(item))
        return entries, False

    def heads_changed_in(self, hour: str) -> Iterator[tuple[str, int, str]]:
        """(transaction id, audit seq, audit hash) of every head last changed in `hour`, from
        the sparse index: what one hourly anchor covers, read shard by shard."""
        for bucket in anchor_buckets(hour):
            items = self._query_all(
                TableName=self._ledger,
                IndexName=CHAIN_HEADS_BY_HOUR_INDEX,
                KeyConditionExpression="anchor_bucket = :b",
                ExpressionAttributeValues={":b": {"S": bucket}},
            )
            for item in items:
                yield item["transaction_id"], item["audit_seq"], item["audit_hash"]

    def transaction_ids(self) -> Iterator[str]:
        kwargs: dict[str, Any] = {
            "TableName": self._ledger,
            "FilterExpression": "sk = :head AND attribute_exists(summary)",
            "ExpressionAttributeValues": {":head": {"S": codec.HEAD_SK}},
            "ProjectionExpression": "transaction_id",
        }
        while True:
            page = self._client.scan(**kwargs)
            for item in page.get("Items", []):
                yield str(item["transaction_id"]["S"])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- the refund search indexes (decision 0014) --------------------------------------------

    def refunds_of_transaction(
        self, transaction_id: str, bounds: Bounds, status: RefundStatus | None, page_size: int
    ) -> Iterator[IndexedRefund]:
        only = {"status": status.value} if status else {}
        return self._index_stream(
            REFUNDS_BY_TRANSACTION_INDEX, "search_txn", transaction_id, bounds, page_size, only
        )

    def refunds_with_status(
        self, status: RefundStatus, bounds: Bounds, page_size: int
    ) -> list[Iterator[IndexedRefund]]:
        return [
            self._index_stream(
                REFUNDS_BY_STATUS_INDEX,
                "search_status",
                refund_index.status_partition(status, shard),
                bounds,
                _shard_page(page_size),
            )
            for shard in range(REFUND_SEARCH_SHARDS)
        ]

    def refunds_of_day(
        self, day: date, bounds: Bounds, page_size: int, currency: str | None = None
    ) -> list[Iterator[IndexedRefund]]:
        only = {"currency": currency} if currency else {}
        return [
            self._index_stream(
                REFUNDS_BY_DAY_INDEX,
                "search_day",
                refund_index.day_partition(day, shard),
                bounds,
                _shard_page(page_size),
                only,
            )
            for shard in range(REFUND_SEARCH_SHARDS)
        ]

    def refunds_created_between(
        self, since: datetime, until: datetime
    ) -> Iterator[tuple[str, str]]:
        lower, upper = time_bound(since), time_bound(until)
        if lower >= upper:
            return
        bounds = Bounds(lower, upper)
        day = date.fromisoformat(lower[:10])
        last = (datetime.fromisoformat(upper) - timedelta(milliseconds=1)).date()
        while day <= last:
            for stream in self.refunds_of_day(day, bounds, REPORT_PAGE_SIZE):
                for found in stream:
                    yield found.refund.transaction_id, found.refund.refund_id
            day += timedelta(days=1)

    def _index_stream(
        self,
        index: str,
        partition_attribute: str,
        partition: str,
        bounds: Bounds,
        page_size: int,
        only: dict[str, str] | None = None,
    ) -> Iterator[IndexedRefund]:
        """One partition of an index, newest first, a Query per `page_size` items read."""
        before = refund_index.sort_key(*bounds.before) if bounds.before else None
        uppers = [u for u in (bounds.created_to, before) if u is not None]
        upper = min(uppers) if uppers else None
        lower = bounds.created_from
        if lower is not None and upper is not None and lower >= upper:
            return
        kwargs = _index_query(index, partition_attribute, partition, lower, upper)
        kwargs.update(TableName=self._ledger, ScanIndexForward=False, Limit=page_size)
        if only:
            _add_filter(kwargs, only)
        for item in self._query_all(**kwargs):
            if item["search_created"] == before:  # BETWEEN includes its upper end
                continue
            yield _indexed(item)

    # --- writes -------------------------------------------------------------------------------

    def commit(self, change: Change) -> None:
        try:
            # botocore gives each call a ClientRequestToken and keeps it across its own
            # retries, so a resend of a write that already committed succeeds as the same
            # request instead of failing its conditions. A token derived from the content
            # would be wrong: two requests can build byte-identical changes.
            self._client.transact_write_items(TransactItems=self._transact_items(change))
        except ClientError as error:
            if _is_conflict(error):
                raise ConcurrentUpdateError(str(error)) from error
            raise

    def _transact_items(self, change: Change) -> list[dict[str, Any]]:
        now = change.audit[-1].timestamp if change.audit else change.touched_at
        items = [self._head_put(change, now)]
        items += [self._put_new(self._ledger, codec.entry_to_item(e)) for e in change.entries]
        items += [
            {"Put": {"TableName": self._ledger, "Item": codec.serialize(codec.refund_to_item(r))}}
            for r in change.refunds
        ]
        items += [self._put_new(self._audit, codec.audit_to_item(a)) for a in change.audit]
        transaction_id = change.head.summary.transaction_id
        items += [
            self._put_new(self._ledger, codec.payment_alias_item(alias, transaction_id))
            for alias in change.payment_aliases
        ]
        if change.key_move is not None:
            items.append(self._pointer_put(transaction_id, change.key_move))
        if change.key_guard is not None:
            items.append(self._pointer_check(transaction_id, change.key_guard))
        return items

    def _pointer_check(self, transaction_id: str, claim: KeyClaim) -> dict[str, Any]:
        """The key's pointer still as a refusal read it: absent, or naming the same refund."""
        key = codec.item_key(transaction_id, codec.key_sk(claim.key))
        check = {"TableName": self._ledger, "Key": key}
        return {"ConditionCheck": {**check, **_pointer_names(claim.refund_id)}}

    def _pointer_put(self, transaction_id: str, move: KeyMove) -> dict[str, Any]:
        """The key's pointer, moved only from the refund the reservation saw it name: of two
        reservations under one key, one wins even if both read the head before either wrote."""
        item = codec.key_pointer_item(transaction_id, move.key, move.refund_id, move.earlier)
        put = {"TableName": self._ledger, "Item": codec.serialize(item)}
        return {"Put": {**put, **_pointer_names(move.expected)}}

    def _put_new(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": table,
                "Item": codec.serialize(item),
                "ConditionExpression": _NOT_EXISTS,
            }
        }

    def _head_put(self, change: Change, now: str) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self._ledger,
            "Item": codec.serialize(codec.head_to_item(change.head, now)),
        }
        expected = change.expected
        if expected.stored:
            put["ConditionExpression"] = "audit_seq = :seq AND audit_hash = :hash"
            put["ExpressionAttributeValues"] = {
                ":seq": {"N": str(expected.chain.seq)},
                ":hash": {"S": expected.chain.hash},
            }
            if change.repeat_guard is not None:
                fingerprint, count = change.repeat_guard
                put["ConditionExpression"] += " AND repeats.#fp.#count = :count"
                put["ExpressionAttributeNames"] = {"#fp": fingerprint, "#count": "count"}
                put["ExpressionAttributeValues"][":count"] = {"N": str(count)}
        else:
            put["ConditionExpression"] = _NOT_EXISTS
        return {"Put": put}


def _pointer_names(refund_id: str | None) -> dict[str, Any]:
    """The condition that a key's pointer names `refund_id`, or is absent for None."""
    if refund_id is None:
        return {"ConditionExpression": _NOT_EXISTS}
    return {
        "ConditionExpression": "refund_id = :expected",
        "ExpressionAttributeValues": {":expected": {"S": refund_id}},
    }


def _recorded_before_pointers(head: Head) -> bool:
    """A payment recorded before key pointers and the head's payment reference existed: its
    earlier refunds' keys have no pointer, so a reservation reads it whole."""
    return head.summary.exists and head.payment_reference is None


def _shard_page(page_size: int) -> int:
    """Each shard holds about its share of a page; one more item, so a merge rarely asks twice."""
    return max(2, -(-page_size // REFUND_SEARCH_SHARDS) + 1)


def _index_query(
    index: str, partition_attribute: str, partition: str, lower: str | None, upper: str | None
) -> dict[str, Any]:
    condition = "#p = :p"
    values: dict[str, Any] = {":p": {"S": partition}}
    if lower is not None and upper is not None:
        condition += " AND search_created BETWEEN :lo AND :hi"
        values.update({":lo": {"S": lower}, ":hi": {"S": upper}})
    elif upper is not None:
        condition += " AND search_created < :hi"
        values[":hi"] = {"S": upper}
    elif lower is not None:
        condition += " AND search_created >= :lo"
        values[":lo"] = {"S": lower}
    return {
        "IndexName": index,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": {"#p": partition_attribute},
        "ExpressionAttributeValues": values,
    }


def _add_filter(kwargs: dict[str, Any], only: dict[str, str]) -> None:
    clauses = []
    for n, (name, value) in enumerate(sorted(only.items())):
        kwargs["ExpressionAttributeNames"][f"#f{n}"] = name
        kwargs["ExpressionAttributeValues"][f":f{n}"] = {"S": value}
        clauses.append(f"#f{n} = :f{n}")
    kwargs["FilterExpression"] = " AND ".join(clauses)


def _indexed(item: dict[str, Any]) -> IndexedRefund:
    created_at = str(item["search_created"]).partition(refund_index.SEPARATOR)[0]
    refund = codec.refund_from_item(item)
    return IndexedRefund(refund, created_at, refund.fx_adjustment_amount)


def _is_conflict(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code")
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons") or []
        codes = {r.get("Code") for r in reasons if r.get("Code") not in (None, "None")}
        if not reasons:  # some emulators omit the reasons
            return "ConditionalCheckFailed" in str(error) or "TransactionConflict" in str(error)
        return bool(codes) and codes <= _RETRYABLE_CANCEL
    return code in ("ConditionalCheckFailedException", "TransactionConflictException")
