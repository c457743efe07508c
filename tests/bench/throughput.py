"""Row 3: POST /refunds over HTTP against the local stack, beside DynamoDB Local's own ceiling.

Every request is a partial refund of one minor unit. On distinct payments each client has its
own payments and moves to a fresh one every `REFUNDS_PER_PAYMENT` refunds, so partitions stay
small and alike across rows; on one payment every client refunds the same payment, which both
contends on its head item and grows its partition. The ceiling performs the same storage work
per refund with boto3 straight on the stack's DynamoDB Local: one Query of the partition and two
TransactWriteItems (head on condition of its version, entry, refund record, two audit records),
re-reading and retrying on a conflict as the service does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from tests.bench.client import Client, LoadResult, Work, run_clients
from tests.bench.stack import BenchStack

REFUNDS_PER_PAYMENT = 5
PAYMENT_AMOUNT = 1_000_000


@dataclass(frozen=True)
class Shape:
    label: str
    clients: int
    shared_payment: bool = False


SHAPES = (
    Shape("1 client, distinct payments", 1),
    Shape("4 clients, distinct payments", 4),
    Shape("16 clients, distinct payments", 16),
    Shape("16 clients, one payment", 16, shared_payment=True),
)


@dataclass
class Row:
    shape: Shape
    service: LoadResult
    ceiling: LoadResult


def seed_payments(
    stack: BenchStack, count: int, prefix: str, amount: int = PAYMENT_AMOUNT
) -> list[str]:
    """Completed USD payments recorded through the API (POST /transactions), 4 at a time."""
    ids = [f"{prefix}-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    token = stack.token("ledger:write")

    def record(chunk: Sequence[str]) -> None:
        client = Client(stack.base_url, token)
        for transaction_id in chunk:
            client.record_payment(transaction_id, amount, "USD", amount // 10, amount // 50)
        client.close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(record, [ids[i::4] for i in range(4)]))
    return ids


def _assignments(shape: Shape, requests: int, payments: list[str]) -> list[list[str]]:
    """The payment each request of each client refunds."""
    per_client = _per_client(shape, requests)
    if shape.shared_payment:
        return [[payments[0]] * n for n in per_client]
    pool = iter(payments)
    plan = []
    for n in per_client:
        own = [next(pool) for _ in range(-(-n // REFUNDS_PER_PAYMENT))]
        plan.append([own[i // REFUNDS_PER_PAYMENT] for i in range(n)])
    return plan


def payments_needed(shape: Shape, requests: int) -> int:
    if shape.shared_payment:
        return 1
    return sum(-(-n // REFUNDS_PER_PAYMENT) for n in _per_client(shape, requests))


def _per_client(shape: Shape, requests: int) -> list[int]:
    return [
        requests // shape.clients + (i < requests % shape.clients) for i in range(shape.clients)
    ]


def service_load(stack: BenchStack, shape: Shape, requests: int, time_limit: float) -> LoadResult:
    payments = seed_payments(stack, payments_needed(shape, requests), "bench-load")
    token = stack.token("refunds:write")
    work: list[list[Work]] = []
    for plan in _assignments(shape, requests, payments):
        client = Client(stack.base_url, token)

        def refund(transaction_id: str, client: Client = client) -> str:
            body = {"transaction_id": transaction_id, "amount": 1, "reason": "other"}
            headers = {"Idempotency-Key": f"load-{uuid.uuid4()}"}
            status, _, answer = client.call("POST", "/refunds", body, headers)
            if status == 200:
                return "ok"
            code = answer.get("error_code") if isinstance(answer, dict) else None
            return f"{status}:{code}"

        work.append([partial(refund, t) for t in plan])
    return run_clients(work, time_limit)


# --- the ceiling ---------------------------------------------------------------------------


def _filler(size: int) -> dict[str, Any]:
    return {"S": "x" * size}


class CeilingRefunds:
    """The service's storage work for one refund, done directly with boto3."""

    def __init__(
        self, client: Any, ledger: str = "PaymentLedger", audit: str = "PaymentAuditTrail"
    ):
        self.client = client
        self.ledger = ledger
        self.audit = audit
        self.retries = 0

    def create(self, partition: str) -> None:
        self.client.put_item(
            TableName=self.ledger,
            Item={
                "pk": {"S": partition},
                "sk": {"S": "HEAD"},
                "version": {"N": "0"},
                "blob": _filler(900),
            },
        )

    def _head_put(self, partition: str, version: int) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.ledger,
                "Item": {
                    "pk": {"S": partition},
                    "sk": {"S": "HEAD"},
                    "version": {"N": str(version + 1)},
                    "blob": _filler(900),
                },
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(version)}},
            }
        }

    def _new(self, table: str, partition: str, sk: str, size: int) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": table,
                "Item": {"pk": {"S": partition}, "sk": {"S": sk}, "blob": _filler(size)},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _record(self, partition: str, refund: str) -> dict[str, Any]:
        item = {"pk": {"S": partition}, "sk": {"S": f"REFUND#{refund}"}, "blob": _filler(850)}
        return {"Put": {"TableName": self.ledger, "Item": item}}

    def _read(self, partition: str) -> int:
        kwargs: dict[str, Any] = {
            "TableName": self.ledger,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ConsistentRead": True,
        }
        version = 0
        while True:
            page = self.client.query(**kwargs)
            for item in page["Items"]:
                if item["sk"]["S"] == "HEAD":
                    version = int(item["version"]["N"])
            if "LastEvaluatedKey" not in page:
                return version
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _write(self, partition: str, version: int, refund: str, step: int) -> None:
        seq = f"{version + 1:08d}"
        items = [
            self._head_put(partition, version),
            self._new(self.ledger, partition, f"ENTRY#{seq}", 750 if step == 1 else 520),
            self._record(partition, refund),
            self._new(self.audit, partition, f"AUDIT#{seq}a", 1050),
            self._new(self.audit, partition, f"AUDIT#{seq}b", 1050),
        ]
        self.client.transact_write_items(TransactItems=items)

    def refund(self, partition: str) -> str:
        """Reserve, then record the outcome; the second write builds on the first unread."""
        refund = uuid.uuid4().hex
        known = -1
        for step in (1, 2):
            for attempt in range(60):
                version = known + 1 if step == 2 and attempt == 0 else self._read(partition)
                try:
                    self._write(partition, version, refund, step)
                except ClientError as error:
                    if (
                        error.response.get("Error", {}).get("Code")
                        != "TransactionCanceledException"
                    ):
                        raise
                    self.retries += 1
                    continue
                known = version
                break
            else:
                return "contention"
        return "ok"


def ceiling_load(client: Any, shape: Shape, requests: int, time_limit: float) -> LoadResult:
    ceiling = CeilingRefunds(client)
    run = uuid.uuid4().hex[:8]
    partitions = [f"BENCH#CEILING#{run}#{i}" for i in range(payments_needed(shape, requests))]
    for partition in partitions:
        ceiling.create(partition)
    work: list[list[Work]] = [
        [partial(ceiling.refund, p) for p in plan]
        for plan in _assignments(shape, requests, partitions)
    ]
    result = run_clients(work, time_limit)
    result.retries = ceiling.retries
    return result


def measure(
    stack: BenchStack, requests: int, time_limit: float, shapes: Sequence[Shape] = SHAPES
) -> list[Row]:
    client = stack.client("dynamodb")
    rows = []
    for shape in shapes:
        service = service_load(stack, shape, requests, time_limit)
        ceiling = ceiling_load(client, shape, requests, time_limit)
        rows.append(Row(shape, service, ceiling))
    return rows
