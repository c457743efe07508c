"""Leases and checkpoints for the scheduled jobs, kept in the idempotency table.

Item ids start with `lease#` or `checkpoint#`, so they never meet Powertools' idempotency
records or the simulated processor's memory; the roles may touch only these prefixes
(an IAM `dynamodb:LeadingKeys` condition). Each item expires by the table's TTL a week after
its last write, so nothing accumulates.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from refund_service.adapters.dynamodb import codec

LEASE_PREFIX = "lease#"
CHECKPOINT_PREFIX = "checkpoint#"
_KEEP_SECONDS = 7 * 24 * 3600


class DynamoDBLease:
    """At most one holder at a time: a run that finds the lease held does nothing."""

    def __init__(self, client: Any, table: str, name: str):
        self._client = client
        self._table = table
        self._id = f"{LEASE_PREFIX}{name}"

    def acquire(self, owner: str, seconds: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self._id}},
                UpdateExpression="SET lease_owner = :owner, lease_until = :until, expiration = :e",
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now",
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":until": {"N": str(now + seconds)},
                    ":now": {"N": str(now)},
                    ":e": {"N": str(int(now) + _KEEP_SECONDS)},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, owner: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self._id}},
                UpdateExpression="SET lease_until = :zero",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}, ":zero": {"N": "0"}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise  # a lease taken over after it ran out is the new holder's


class DynamoDBCheckpoints:
    """Named JSON-like progress records: read, and overwrite."""

    def __init__(self, client: Any, table: str):
        self._client = client
        self._table = table

    def load(self, name: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"id": {"S": f"{CHECKPOINT_PREFIX}{name}"}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        state: dict[str, Any] = codec.deserialize(item).get("state") or {}
        return state

    def save(self, name: str, state: dict[str, Any]) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"id": {"S": f"{CHECKPOINT_PREFIX}{name}"}},
            UpdateExpression="SET #state = :state, expiration = :e",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":state": codec.serialize({"state": state})["state"],
                ":e": {"N": str(int(time.time()) + _KEEP_SECONDS)},
            },
        )
