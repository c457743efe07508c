"""Row 3: POST /refunds over HTTP against the local stack, beside DynamoDB Local's own ceiling.

Every request is a partial refund of one minor unit. On distinct payments each client has its
own payments and moves to a fresh one every `REFUNDS_PER_PAYMENT` refunds, so partitions stay
small and alike across rows; on one payment every client refunds the same payment, which both
contends on its head item and grows its partition. The ceiling performs the same storage work
per refund with boto3 straight on the stack's DynamoDB Local: one Query of the partition and two
TransactWriteItems (head on condition of its version, entry, refund record, two audit records),
re-reading and retrying on a conflict as the service does. A second ceiling (rows 3e, 3f) also
makes every other DynamoDB call the service makes per refund, as row 2a counts them: Powertools
idempotency's record and the simulated processor's memory. Row 3g holds 64 clients for 30 s and
counts the connections that failed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from local.config import LocalConfig
from refund_service.domain.refund import RefundReason
from refund_service.service.refunds import RefundCommand, request_refund
from tests.bench.client import Client, LoadResult, Work, run_clients
from tests.bench.stack import BenchStack
from tests.support.world import USER, MutableClock, make_world

REFUNDS_PER_PAYMENT = 5
PAYMENT_AMOUNT = 1_000_000
IDEMPOTENCY = "RefundIdempotency"  # where idempotency records and the simulator's memory live


@dataclass(frozen=True)
class Shape:
    label: str
    clients: int
    shared_payment: bool = False
    same_calls: bool = False  # also measured against the same-calls ceiling (rows 3e, 3f)


SHAPES = (
    Shape("1 client, distinct payments", 1, same_calls=True),
    Shape("4 clients, distinct payments", 4),
    Shape("16 clients, distinct payments", 16, same_calls=True),
    Shape("16 clients, one payment", 16, shared_payment=True),
)
WIDE = Shape("64 clients, distinct payments", 64)
WARM_UP = Shape("warm-up, one client per local worker", LocalConfig.workers)
WIDE_SECONDS = 30.0
WIDE_REFUNDS_PER_CLIENT = 25  # more than 30 s allow on this machine: time bounds the row


@dataclass
class Row:
    shape: Shape
    service: LoadResult
    ceiling: LoadResult
    same_calls: LoadResult | None = None


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
    clients = []
    for plan in _assignments(shape, requests, payments):
        client = Client(stack.base_url, token)
        clients.append(client)

        def refund(transaction_id: str, client: Client = client) -> str:
            body = {"transaction_id": transaction_id, "amount": 1, "reason": "other"}
            headers = {"Idempotency-Key": f"load-{uuid.uuid4()}"}
            status, _, answer = client.call("POST", "/refunds", body, headers)
            if status == 200:
                return "ok"
            code = answer.get("error_code") if isinstance(answer, dict) else None
            return f"{status}:{code}"

        work.append([partial(refund, t) for t in plan])
    result = run_clients(work, time_limit)
    result.connection_errors = sum(client.connection_errors for client in clients)
    for client in clients:
        client.close()
    return result


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

    def _items(self, partition: str, version: int, refund: str, step: int) -> list[dict[str, Any]]:
        seq = f"{version + 1:08d}"
        return [
            self._head_put(partition, version),
            self._new(self.ledger, partition, f"ENTRY#{seq}", 750 if step == 1 else 520),
            self._record(partition, refund),
            self._new(self.audit, partition, f"AUDIT#{seq}a", 1050),
            self._new(self.audit, partition, f"AUDIT#{seq}b", 1050),
        ]

    def _write(self, partition: str, version: int, refund: str, step: int) -> None:
        self.client.transact_write_items(
            TransactItems=self._items(partition, version, refund, step)
        )

    def before(self, refund: str) -> None:
        """Calls made before the partition is read (none for the floor)."""

    def between(self, refund: str) -> None:
        """Calls made between the reservation and the outcome (none for the floor)."""

    def after(self, refund: str) -> None:
        """Calls made once the outcome is recorded (none for the floor)."""

    def refund(self, partition: str) -> str:
        """Reserve, then record the outcome; the second write builds on the first unread."""
        refund = uuid.uuid4().hex
        self.before(refund)
        known = -1
        for step in (1, 2):
            if step == 2:
                self.between(refund)
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
        self.after(refund)
        return "ok"


class SameCallsCeiling(CeilingRefunds):
    """The floor's storage work plus every other DynamoDB call a refund makes, in its order:
    the idempotency record before and after, the processor stand-in's calls in between.

    `per_refund` is row 2a's count ("dynamodb:<operation>:<purpose>" to calls per refund).
    The stand-in's items use keys of their own, so the simulator never sees them.
    """

    def __init__(
        self,
        client: Any,
        per_refund: dict[str, float],
        table: str = IDEMPOTENCY,
        writes: ServiceWrites | None = None,
    ):
        super().__init__(client)
        self.table = table
        self.writes = writes
        self.run = uuid.uuid4().hex[:8]
        self.counts: dict[tuple[str, str], int] = {}
        for key, count in per_refund.items():
            service, operation, purpose = key.split(":")
            if service == "dynamodb" and purpose != "ledger" and round(count):
                self.counts[(purpose, operation)] = round(count)
        unknown = set(self.counts) - set(_EXTRA_CALLS)
        if unknown:
            raise ValueError(f"no ceiling call for {sorted(unknown)}")
        # The service reads a refund's head and its key's pointer by key (decision 0025): in
        # one BatchGetItem, or in two GetItems, as row 2a counted. It writes the pointer with
        # the reservation. The floor's Query stands in otherwise.
        self.batch_read = round(per_refund.get("dynamodb:BatchGetItem:ledger", 0)) >= 1
        got = round(per_refund.get("dynamodb:GetItem:ledger", 0))
        self.reads_by_key = self.batch_read or got >= 2
        self.refund_key = ""

    def _read(self, partition: str) -> int:
        if not self.reads_by_key:
            return super()._read(partition)
        keys = [{"pk": {"S": partition}, "sk": {"S": sk}} for sk in ("HEAD", self.refund_key)]
        if self.batch_read:
            request = {self.ledger: {"Keys": keys, "ConsistentRead": True}}
            found = self.client.batch_get_item(RequestItems=request)["Responses"][self.ledger]
        else:
            found = [
                self.client.get_item(TableName=self.ledger, Key=key, ConsistentRead=True).get(
                    "Item", {}
                )
                for key in keys
            ]
        head = next((item for item in found if item.get("sk", {}).get("S") == "HEAD"), None)
        return int(head["version"]["N"]) if head else 0

    def _items(self, partition: str, version: int, refund: str, step: int) -> list[dict[str, Any]]:
        if self.writes is None:
            return super()._items(partition, version, refund, step)
        return self.writes.items(step, self, partition, version, refund)

    def _write(self, partition: str, version: int, refund: str, step: int) -> None:
        if self.writes is not None or not self.reads_by_key or step != 1:
            super()._write(partition, version, refund, step)
            return
        items = self._items(partition, version, refund, step)
        items.append(self._new(self.ledger, partition, self.refund_key, 120))
        self.client.transact_write_items(TransactItems=items)

    def _calls(self, refund: str, purpose: str, operations: tuple[str, ...]) -> None:
        for operation in operations:
            for index in range(self.counts.get((purpose, operation), 0)):
                _EXTRA_CALLS[(purpose, operation)](self, refund, index)

    def before(self, refund: str) -> None:
        self.refund_key = f"KEY#{refund}"
        self._calls(refund, "idempotency", ("PutItem", "GetItem"))

    def between(self, refund: str) -> None:
        self._calls(refund, "processor stand-in", ("UpdateItem", "PutItem", "GetItem"))

    def after(self, refund: str) -> None:
        self._calls(refund, "idempotency", ("UpdateItem", "DeleteItem"))

    def _key(self, name: str) -> dict[str, Any]:
        return {"id": {"S": f"bench-ceiling#{self.run}#{name}"}}

    def idempotency_put(self, refund: str, _: int) -> None:
        now = int(time.time())
        self.client.put_item(
            TableName=self.table,
            Item={
                **self._key(refund),
                "expiration": {"N": str(now + 86_400)},
                "in_progress_expiration": {"N": str(now * 1000 + 29_000)},
                "status": {"S": "INPROGRESS"},
                "validation": {"S": uuid.uuid4().hex * 2},
            },
            ConditionExpression="attribute_not_exists(id) OR expiration < :now",
            ExpressionAttributeValues={":now": {"N": str(now)}},
        )

    def idempotency_update(self, refund: str, _: int) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._key(refund),
            UpdateExpression="SET response_data = :r, expiration = :e, #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":r": _filler(400),
                ":e": {"N": str(int(time.time()) + 86_400)},
                ":s": {"S": "COMPLETED"},
            },
        )

    def stand_in_index(self, refund: str, index: int) -> None:
        """The simulator's index: its hour's item names the minute, the minute's holds the id."""
        minute = time.strftime("%Y-%m-%dT%H:%M", time.gmtime())
        key, member = (
            (f"hour#{minute[:13]}", minute) if index == 0 else (f"minute#{minute}", refund)
        )
        self.client.update_item(
            TableName=self.table,
            Key=self._key(f"index{index}#{key}"),
            UpdateExpression="ADD refund_ids :id",
            ExpressionAttributeValues={":id": {"SS": [member]}},
        )

    def stand_in_put(self, refund: str, _: int) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={**self._key(f"refund#{refund}"), "record": _filler(250)},
            ConditionExpression="attribute_not_exists(id)",
        )

    def stand_in_get(self, refund: str, _: int) -> None:
        self.client.get_item(
            TableName=self.table, Key=self._key(f"refund#{refund}"), ConsistentRead=True
        )


@dataclass(frozen=True)
class ServiceWrites:
    """The items of a refund's two TransactWriteItems as the service builds them (`ledger` or
    `audit`, the item's DynamoDB JSON with the payment's id as `PLACEHOLDER`, and whether the
    Put is conditional), for a ceiling that writes what the service writes: the same items,
    sizes and index attributes."""

    transactions: tuple[tuple[tuple[str, str, bool], ...], ...]
    PLACEHOLDER = "@@payment@@"

    def items(
        self, step: int, ceiling: CeilingRefunds, partition: str, version: int, refund: str
    ) -> list[dict[str, Any]]:
        items = []
        for table, text, conditional in self.transactions[step - 1]:
            item = json.loads(text.replace(self.PLACEHOLDER, f"{partition}~{refund}"))
            item["pk"] = {"S": partition}
            if item["sk"]["S"] == "HEAD":
                head = ceiling._head_put(partition, version)
                head["Put"]["Item"] = {**item, "version": head["Put"]["Item"]["version"]}
                items.append(head)
                continue
            item["sk"] = {"S": f"{item['sk']['S']}#{refund}"}  # the refund's own items
            name = ceiling.ledger if table == "ledger" else ceiling.audit
            put: dict[str, Any] = {"TableName": name, "Item": item}
            if conditional:  # a new item; the refund record is replaced, unconditionally
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            items.append({"Put": put})
        return items


def service_writes(client: Any) -> ServiceWrites:
    """One keyed refund through the service's own code, on tables of its schema (indexes and
    all) made for the purpose, its two TransactWriteItems captured before they are sent."""
    world = make_world(client, MutableClock(), suffix=f"-writes-{uuid.uuid4().hex[:8]}")
    tid = world.pay(amount=10_000)
    captured: list[list[dict[str, Any]]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        captured.append(json.loads(json.dumps(params["TransactItems"])))

    event = "provide-client-params.dynamodb.TransactWriteItems"
    client.meta.events.register(event, capture)
    try:
        command = RefundCommand(tid, RefundReason.OTHER, 1_000, idempotency_key="writes")
        request_refund(world.services, command, USER)
    finally:
        client.meta.events.unregister(event, capture)
    audit = world.tables["PaymentAuditTrail"]
    return ServiceWrites(
        tuple(
            tuple(
                (
                    "audit" if put["Put"]["TableName"] == audit else "ledger",
                    json.dumps(put["Put"]["Item"]).replace(tid, ServiceWrites.PLACEHOLDER),
                    "ConditionExpression" in put["Put"],
                )
                for put in transaction
            )
            for transaction in captured[-2:]
        )
    )


_EXTRA_CALLS = {
    ("idempotency", "PutItem"): SameCallsCeiling.idempotency_put,
    ("idempotency", "UpdateItem"): SameCallsCeiling.idempotency_update,
    ("processor stand-in", "UpdateItem"): SameCallsCeiling.stand_in_index,
    ("processor stand-in", "PutItem"): SameCallsCeiling.stand_in_put,
    ("processor stand-in", "GetItem"): SameCallsCeiling.stand_in_get,
}


def ceiling_load(
    client: Any,
    shape: Shape,
    requests: int,
    time_limit: float,
    ceiling: CeilingRefunds | None = None,
) -> LoadResult:
    ceiling = ceiling or CeilingRefunds(client)
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
    stack: BenchStack,
    requests: int,
    time_limit: float,
    per_refund: dict[str, float],
    shapes: Sequence[Shape] = SHAPES,
) -> list[Row]:
    """Each shape against the floor's ceiling and, where asked, the same-calls ceiling;
    `per_refund` is row 2a's count of calls per refund."""
    client = stack.client("dynamodb")
    writes = service_writes(client) if any(shape.same_calls for shape in shapes) else None
    warm_up(stack, client, requests, time_limit, per_refund, writes)
    rows = []
    for shape in shapes:
        service = service_load(stack, shape, requests, time_limit)
        ceiling = ceiling_load(client, shape, requests, time_limit)
        same_calls = None
        if shape.same_calls:
            same = SameCallsCeiling(client, per_refund, writes=writes)
            same_calls = ceiling_load(client, shape, requests, time_limit, same)
        rows.append(Row(shape, service, ceiling, same_calls))
    return rows


def warm_up(
    stack: BenchStack,
    client: Any,
    requests: int,
    time_limit: float,
    per_refund: dict[str, float],
    writes: ServiceWrites | None,
) -> None:
    """One unmeasured pass of each side before the rows: the service, the floor's ceiling and
    the same-calls ceiling. DynamoDB Local's JVM compiles its hot paths during the first
    requests of each kind, and the workers pay their first refunds; unwarmed, whichever side
    ran first was measured on a colder server (the service, in every row 3a and 3e)."""
    shape = WARM_UP
    service_load(stack, shape, requests, time_limit)
    ceiling_load(client, shape, requests, time_limit)
    if writes is not None:
        same = SameCallsCeiling(client, per_refund, writes=writes)
        ceiling_load(client, shape, requests, time_limit, same)


def wide_load(
    stack: BenchStack,
    seconds: float = WIDE_SECONDS,
    per_client: int = WIDE_REFUNDS_PER_CLIENT,
    shape: Shape = WIDE,
) -> LoadResult:
    """Row 3g: many clients at once, each on payments of its own, bounded by time."""
    return service_load(stack, shape, shape.clients * per_client, seconds)
