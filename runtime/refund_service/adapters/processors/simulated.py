"""A processor simulator for local use and tests (SPEC section 5).

The outcome comes from the refund request's `metadata.simulate`: approve (default), decline,
insufficient_funds, network_error (nothing reaches the processor), timeout (sent, answer lost;
the processor approved it), pending (answered pending, approved when next looked up). It
remembers every refund it was asked for, keyed by refund id, and pays each at most once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRecord,
    ProcessorRefundRequest,
    ProcessorResult,
    ProcessorTimeoutError,
    ProcessorUnavailableError,
    normalized,
)

NAME = "simulated"
OUTCOME_CODES = {
    "approve": ProcessorCode.APPROVED,
    "decline": ProcessorCode.DECLINED,
    "insufficient_funds": ProcessorCode.INSUFFICIENT_FUNDS,
    "timeout": ProcessorCode.APPROVED,
    "pending": ProcessorCode.PENDING,
}
OUTCOMES = (*OUTCOME_CODES, "network_error")
_SIMULATOR_CODES = {
    ProcessorCode.APPROVED: "sim_approved",
    ProcessorCode.DECLINED: "sim_declined",
    ProcessorCode.INSUFFICIENT_FUNDS: "sim_insufficient_funds",
    ProcessorCode.PENDING: "sim_pending",
}


class SimulatorMemory(Protocol):
    """What the simulated processor remembers, per refund id."""

    def get(self, refund_id: str) -> dict[str, Any] | None: ...

    def add(self, refund_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """Store `record` unless one exists; return the record that is stored now."""
        ...

    def settle_pending(self, refund_id: str) -> dict[str, Any]:
        """Turn a pending refund into an approved, paid one (once); return the record."""
        ...


class InMemorySimulatorMemory:
    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, refund_id: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._records.get(refund_id)
            return dict(record) if record else None

    def add(self, refund_id: str, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return dict(self._records.setdefault(refund_id, dict(record)))

    def settle_pending(self, refund_id: str) -> dict[str, Any]:
        with self._lock:
            record = self._records[refund_id]
            if record["code"] == ProcessorCode.PENDING.value:
                record.update(code=ProcessorCode.APPROVED.value, payments=1)
            return dict(record)

    def payments(self) -> dict[str, int]:
        """How many times each refund was paid out: never more than once."""
        with self._lock:
            return {rid: r["payments"] for rid, r in self._records.items() if r["payments"]}


class DynamoDBSimulatorMemory:
    """Memory in a DynamoDB table keyed by `id` (the idempotency table, under its own prefix)."""

    PREFIX = "simulated-processor#"

    def __init__(self, client: Any, table_name: str):
        self._client = client
        self._table = table_name

    def _key(self, refund_id: str) -> dict[str, Any]:
        return {"id": {"S": self.PREFIX + refund_id}}

    def get(self, refund_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(refund_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return {
            "code": item["code"]["S"],
            "payments": int(item["payments"]["N"]),
            "reference": item["reference"]["S"],
        }

    def add(self, refund_id: str, record: dict[str, Any]) -> dict[str, Any]:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **self._key(refund_id),
                    "code": {"S": record["code"]},
                    "payments": {"N": str(record["payments"])},
                    "reference": {"S": record["reference"]},
                },
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        stored = self.get(refund_id)
        assert stored is not None
        return stored

    def settle_pending(self, refund_id: str) -> dict[str, Any]:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(refund_id),
                UpdateExpression="SET code = :approved, payments = :one",
                ConditionExpression="code = :pending",
                ExpressionAttributeValues={
                    ":approved": {"S": ProcessorCode.APPROVED.value},
                    ":pending": {"S": ProcessorCode.PENDING.value},
                    ":one": {"N": "1"},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        stored = self.get(refund_id)
        assert stored is not None
        return stored


class SimulatedProcessor:
    name = NAME

    def __init__(self, memory: SimulatorMemory):
        self.memory = memory

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        outcome = str(request.metadata.get("simulate", "approve"))
        if outcome == "network_error":
            raise ProcessorUnavailableError("simulated network error: nothing was sent")
        code = OUTCOME_CODES.get(outcome)
        if code is None:
            return normalized(
                ProcessorCode.INVALID_REQUEST,
                NAME,
                processor_code="sim_unknown_outcome",
                processor_message=f"unknown simulate outcome {outcome!r}",
            )
        record = self.memory.add(
            request.refund_id,
            {
                "code": code.value,
                "payments": 1 if code is ProcessorCode.APPROVED else 0,
                "reference": f"sim_{request.refund_id}",
            },
        )
        if outcome == "timeout":
            raise ProcessorTimeoutError("simulated timeout: the answer was lost")
        return self._result(record)

    def refunds_between(
        self, since: datetime, until: datetime
    ) -> Iterable[ProcessorRefundRecord] | None:
        """Not listed yet: processor reconciliation skips this processor."""
        return None

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        record = self.memory.get(request.refund_id)
        if record is None:
            return None
        if record["code"] == ProcessorCode.PENDING.value:
            record = self.memory.settle_pending(request.refund_id)
        return self._result(record)

    @staticmethod
    def _result(record: dict[str, Any]) -> ProcessorResult:
        code = ProcessorCode(record["code"])
        return normalized(
            code,
            NAME,
            reference=record["reference"],
            processor_code=_SIMULATOR_CODES.get(code, "sim_other"),
            processor_message=f"simulated {code.value.lower()}",
        )
