"""Processor event ids already handled, in the idempotency table, expiring after 30 days."""

from __future__ import annotations

import time
from typing import Any

RETENTION_SECONDS = 30 * 24 * 60 * 60
PREFIX = "webhook-event#"


class DynamoDBEventLog:
    def __init__(self, client: Any, table_name: str):
        self._client = client
        self._table = table_name

    def seen(self, key: str) -> bool:
        item = self._client.get_item(
            TableName=self._table, Key={"id": {"S": PREFIX + key}}, ConsistentRead=True
        ).get("Item")
        return item is not None

    def remember(self, key: str) -> None:
        expires = int(time.time()) + RETENTION_SECONDS
        self._client.put_item(
            TableName=self._table,
            Item={
                "id": {"S": PREFIX + key},
                "expiration": {"N": str(expires)},
            },
        )
