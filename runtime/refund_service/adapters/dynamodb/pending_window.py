"""The sparse pending-refunds index, read in windows and resumed exactly where a run stopped."""

from __future__ import annotations

from typing import Any

from refund_service.adapters.dynamodb import codec
from refund_service.service.ports import PendingRefundRef
from refund_service.storage.schema import PENDING_BUCKET, PENDING_REFUNDS_INDEX


class DynamoDBPendingWindow:
    def __init__(self, client: Any, ledger_table: str):
        self._client = client
        self._ledger = ledger_table

    def between(
        self, since: str, before: str, limit: int, resume_after: PendingRefundRef | None = None
    ) -> tuple[list[PendingRefundRef], bool]:
        """Refunds pending since [since, before), oldest first, at most `limit`, after
        `resume_after` when given; and whether the window holds nothing beyond them."""
        kwargs: dict[str, Any] = {
            "TableName": self._ledger,
            "IndexName": PENDING_REFUNDS_INDEX,
            "KeyConditionExpression": "pending_bucket = :b AND pending_since BETWEEN :s AND :t",
            "ExpressionAttributeValues": {
                ":b": {"S": PENDING_BUCKET},
                ":s": {"S": since},
                ":t": {"S": before},
            },
            "Limit": limit,
        }
        if resume_after:
            kwargs["ExclusiveStartKey"] = codec.serialize(_index_key(resume_after))
        page = self._client.query(**kwargs)
        items = [codec.deserialize(item) for item in page.get("Items", [])]
        refs = [
            PendingRefundRef(i["transaction_id"], i["refund_id"], i["pending_since"])
            for i in items
            if i["pending_since"] < before  # BETWEEN includes its upper bound; we do not
        ]
        return refs, "LastEvaluatedKey" not in page


def _index_key(ref: PendingRefundRef) -> dict[str, str]:
    """The index key of a pending refund's record: where a query resumes after it."""
    return {
        "pk": codec.partition_key(ref.transaction_id),
        "sk": codec.refund_sk(ref.refund_id),
        "pending_bucket": PENDING_BUCKET,
        "pending_since": ref.pending_since,
    }
