"""Parallel Scan segments of the ledger table, yielding the transactions that have a head.

Only the verification sweep scans; no request path does. A page evaluates `limit` items of
one segment and returns the head items' transaction ids (the filter drops entries, refunds and
aliases after they are read, so the cost is the whole table's read, once a day).
"""

from __future__ import annotations

from typing import Any

from refund_service.adapters.dynamodb import codec


class DynamoDBSegmentScanner:
    def __init__(self, client: Any, ledger_table: str):
        self._client = client
        self._ledger = ledger_table

    def page(
        self, segment: int, segments: int, start: dict[str, Any] | None, limit: int
    ) -> tuple[list[str], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._ledger,
            "Segment": segment,
            "TotalSegments": segments,
            "Limit": limit,
            "FilterExpression": "sk = :head AND attribute_exists(summary)",
            "ExpressionAttributeValues": {":head": {"S": codec.HEAD_SK}},
            "ProjectionExpression": "transaction_id",
        }
        if start:
            kwargs["ExclusiveStartKey"] = codec.serialize(start)
        page = self._client.scan(**kwargs)
        ids = [str(item["transaction_id"]["S"]) for item in page.get("Items", [])]
        following = page.get("LastEvaluatedKey")
        return ids, codec.deserialize(following) if following else None
