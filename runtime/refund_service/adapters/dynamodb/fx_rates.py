"""The ECB's daily reference rates in DynamoDB: one item per publication day.

`pk` is the feed ("ECB"), `day` its ISO publication date, so the latest day on or before a date
is one Query in key order. Rates are kept as the feed's decimal strings, never as floats.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from refund_service.adapters.ecb_feed import DailyRates

FEED_KEY = "ECB"


class DynamoDBRatesStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def put(self, rates: DailyRates) -> None:
        """Stores (or restates) one day; the feed is the authority for its own day."""
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": FEED_KEY},
                "day": {"S": rates.day.isoformat()},
                "per_euro": {"M": {c: {"S": str(r)} for c, r in rates.per_euro.items()}},
                "stored_at": {"S": datetime.now(UTC).isoformat(timespec="seconds")},
            },
        )

    def on(self, day: date) -> DailyRates | None:
        """The rates published for exactly `day` (one GetItem)."""
        answer = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": FEED_KEY}, "day": {"S": day.isoformat()}},
            ConsistentRead=False,
        )
        return _rates(answer["Item"]) if "Item" in answer else None

    def latest_on_or_before(self, day: date) -> DailyRates | None:
        """The newest stored day not after `day` (one Query, newest first, one item)."""
        answer = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :feed AND #day <= :day",
            ExpressionAttributeNames={"#day": "day"},
            ExpressionAttributeValues={":feed": {"S": FEED_KEY}, ":day": {"S": day.isoformat()}},
            ScanIndexForward=False,
            Limit=1,
        )
        items = answer.get("Items", [])
        return _rates(items[0]) if items else None


def _rates(item: dict[str, Any]) -> DailyRates:
    return DailyRates(
        day=date.fromisoformat(item["day"]["S"]),
        per_euro={c: Decimal(v["S"]) for c, v in item["per_euro"]["M"].items()},
    )
