"""A processor simulator for local use and tests (SPEC section 5).

The outcome comes from the refund request's `metadata.simulate`: approve (default), decline,
insufficient_funds, network_error (nothing reaches the processor), timeout (sent and approved,
the answer lost), pending (answered pending, approved when next looked up or once
`pending_after` has passed). `metadata.simulate_delay_ms` (an integer, 0 to 10000) makes it wait
that long after receiving the request before it decides, records and answers: until then a
lookup finds nothing, as with a slow processor.

It remembers every refund it decided, keyed by refund id, and pays each at most once (the
memory's writes are conditional). It lists what it decided in a time window, for processor
reconciliation. A `pending` or `timeout` refund is announced once decided by a signed webhook
(`simulated_webhook`), delivered by `decide_due()` through an injected sender.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from refund_service.adapters.processors import simulated_webhook
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRecord,
    ProcessorRefundRequest,
    ProcessorResult,
    ProcessorStatus,
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
ANNOUNCED_OUTCOMES = frozenset({"timeout", "pending"})  # decided late: told by webhook
MAX_DELAY_MS = 10_000
_SIMULATOR_CODES = {
    ProcessorCode.APPROVED: "sim_approved",
    ProcessorCode.DECLINED: "sim_declined",
    ProcessorCode.INSUFFICIENT_FUNDS: "sim_insufficient_funds",
    ProcessorCode.PENDING: "sim_pending",
}
# Headers and body of one webhook delivery -> the receiver's HTTP status.
WebhookSender = Callable[[dict[str, str], bytes], int]

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SimulatedRefund:
    """One refund as the simulator remembers it."""

    refund_id: str
    transaction_id: str
    amount: int
    currency: str
    code: str  # a ProcessorCode value; PENDING until decided
    reference: str
    received_at: datetime
    decided_at: datetime | None = None  # None while pending
    payments: int = 0  # 1 once paid; never more

    @property
    def decided(self) -> bool:
        return self.decided_at is not None


class SimulatorMemory(Protocol):
    """What the simulated processor remembers, per refund id."""

    def get(self, refund_id: str) -> SimulatedRefund | None: ...

    def add(self, record: SimulatedRefund, announce: bool) -> SimulatedRefund:
        """Store `record` unless one exists; with `announce`, owe it a webhook once decided.
        Return the record that is stored now."""
        ...

    def decide(self, refund_id: str, decided_at: datetime) -> SimulatedRefund:
        """Turn a pending refund into an approved, paid one (once); return the record."""
        ...

    def decided_between(self, since: datetime, until: datetime) -> list[SimulatedRefund]:
        """Every refund decided in [since, until)."""
        ...

    def outbox(self) -> list[SimulatedRefund]:
        """Refunds owed a webhook: pending ones, and decided ones not yet announced."""
        ...

    def announced(self, refund_id: str) -> None: ...


class InMemorySimulatorMemory:
    def __init__(self) -> None:
        self._records: dict[str, SimulatedRefund] = {}
        self._outbox: set[str] = set()
        self._lock = threading.Lock()

    def get(self, refund_id: str) -> SimulatedRefund | None:
        with self._lock:
            return self._records.get(refund_id)

    def add(self, record: SimulatedRefund, announce: bool) -> SimulatedRefund:
        with self._lock:
            stored = self._records.setdefault(record.refund_id, record)
            if announce:
                self._outbox.add(record.refund_id)
            return stored

    def decide(self, refund_id: str, decided_at: datetime) -> SimulatedRefund:
        with self._lock:
            record = self._records[refund_id]
            if record.code == ProcessorCode.PENDING.value:
                record = _approved(record, decided_at)
                self._records[refund_id] = record
            return record

    def decided_between(self, since: datetime, until: datetime) -> list[SimulatedRefund]:
        with self._lock:
            return [r for r in self._records.values() if _within(r, since, until)]

    def outbox(self) -> list[SimulatedRefund]:
        with self._lock:
            return [self._records[i] for i in sorted(self._outbox) if i in self._records]

    def announced(self, refund_id: str) -> None:
        with self._lock:
            self._outbox.discard(refund_id)

    def payments(self) -> dict[str, int]:
        """How many times each refund was paid out: never more than once."""
        with self._lock:
            return {rid: r.payments for rid, r in self._records.items() if r.payments}


def _approved(record: SimulatedRefund, decided_at: datetime) -> SimulatedRefund:
    return replace(record, code=ProcessorCode.APPROVED.value, payments=1, decided_at=decided_at)


def _within(record: SimulatedRefund, since: datetime, until: datetime) -> bool:
    return record.decided_at is not None and since <= record.decided_at < until


class DynamoDBSimulatorMemory:
    """Memory in a DynamoDB table keyed by `id` (the idempotency table, under its own prefix).

    Besides one item per refund, index items, so that nothing is ever scanned: one per minute
    of decision time (`<prefix>decided#YYYY-MM-DDTHH:MM`, UTC) holding the ids of the refunds
    decided in it, one per hour (`<prefix>hour#YYYY-MM-DDTHH`) holding the minutes of it that
    had a decision, and the outbox (`<prefix>outbox`) holding the ids still owed a webhook. An
    id joins its minute, and the minute its hour, before the record is written or decided: a
    crash between the writes leaves an index entry with no payout behind it (skipped), never a
    payout that is not listed.

    Why a minute: DynamoDB bills a write by the size of the item it rewrites, and refuses an
    item over 400 KB, so an index item must hold a bounded stretch of time, not a day (a day's
    item made each refund cost more than the one before, and failed every refund after some
    thousands). A minute's item holds one minute's ids: about 9,000 ids of 45 bytes, or 2,900
    of the longest (a 128-character transaction id plus `-REFUND-n`), so a sustained rate
    above about 150 refunds a second (50 with the longest ids) would fill one. Why the hours:
    a window reads its hours first and then only the minutes that had a decision, so a 48 h
    reconciliation of a quiet stack reads 49 hour keys and 3 day keys in one BatchGetItem
    (about 52 RCU), not 2,881 minute keys in 29 calls; a decision pays one more small write.
    Index and records are read consistently: the listing is the processor's truth for
    reconciliation, and a payout decided a moment before the read must be in it.

    Refunds decided before the minute items existed sit in one item per day
    (`<prefix>day#YYYY-MM-DD`); the days of a window are read with its hours, so they are
    still listed.
    """

    PREFIX = "simulated-processor#"
    OUTBOX = PREFIX + "outbox"
    DECIDED = PREFIX + "decided#"  # + YYYY-MM-DDTHH:MM, the minute of decision (UTC)
    HOUR = PREFIX + "hour#"  # + YYYY-MM-DDTHH: the minutes of that hour with a decision
    DAY = PREFIX + "day#"  # + YYYY-MM-DD: the index before minute items, still read
    BATCH = 100  # BatchGetItem's limit

    def __init__(self, client: Any, table_name: str):
        self._client = client
        self._table = table_name

    def _key(self, refund_id: str) -> dict[str, Any]:
        return {"id": {"S": self.PREFIX + refund_id}}

    def _index(self, decided_at: datetime, refund_id: str) -> None:
        """Before its record says it is decided, the id is in its minute, the minute in its hour."""
        minute = _minute(decided_at)
        self._join(self.HOUR + minute[:13], minute, attribute="minutes")
        self._join(self.DECIDED + minute, refund_id)

    def get(self, refund_id: str) -> SimulatedRefund | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(refund_id), ConsistentRead=True
        ).get("Item")
        return _from_item(item) if item else None

    def add(self, record: SimulatedRefund, announce: bool) -> SimulatedRefund:
        if announce:
            self._join(self.OUTBOX, record.refund_id)
        if record.decided_at is not None:
            self._index(record.decided_at, record.refund_id)
        try:
            self._client.put_item(
                TableName=self._table,
                Item={**self._key(record.refund_id), **_to_item(record)},
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        return self._stored(record.refund_id)

    def decide(self, refund_id: str, decided_at: datetime) -> SimulatedRefund:
        self._index(decided_at, refund_id)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(refund_id),
                UpdateExpression="SET code = :approved, payments = :one, decided_at = :at",
                ConditionExpression="code = :pending",
                ExpressionAttributeValues={
                    ":approved": {"S": ProcessorCode.APPROVED.value},
                    ":pending": {"S": ProcessorCode.PENDING.value},
                    ":one": {"N": "1"},
                    ":at": {"S": decided_at.isoformat()},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        return self._stored(refund_id)

    def decided_between(self, since: datetime, until: datetime) -> list[SimulatedRefund]:
        hours = [self.HOUR + hour for hour in _hours(since, until)]
        days = [self.DAY + day for day in _days(since, until)]
        window = set(_minutes(since, until))
        minutes: set[str] = set()
        ids: set[str] = set()
        for item in self._items(hours + days, consistent=True):
            minutes.update(m for m in _members_of(item, "minutes") if m in window)
            ids.update(_members_of(item, "refund_ids"))  # the days' items
        for item in self._items([self.DECIDED + m for m in sorted(minutes)], consistent=True):
            ids.update(_members_of(item, "refund_ids"))
        return [r for r in self._records(sorted(ids)) if _within(r, since, until)]

    def outbox(self) -> list[SimulatedRefund]:
        return self._records(sorted(self._members(self.OUTBOX)))

    def announced(self, refund_id: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"id": {"S": self.OUTBOX}},
            UpdateExpression="DELETE refund_ids :id",
            ExpressionAttributeValues={":id": {"SS": [refund_id]}},
        )

    def _stored(self, refund_id: str) -> SimulatedRefund:
        stored = self.get(refund_id)
        assert stored is not None
        return stored

    def _join(self, index_id: str, member: str, attribute: str = "refund_ids") -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"id": {"S": index_id}},
            UpdateExpression="ADD #members :member",
            ExpressionAttributeNames={"#members": attribute},
            ExpressionAttributeValues={":member": {"SS": [member]}},
        )

    def _members(self, index_id: str) -> set[str]:
        item = self._client.get_item(
            TableName=self._table, Key={"id": {"S": index_id}}, ConsistentRead=True
        ).get("Item")
        return set(item["refund_ids"]["SS"]) if item and "refund_ids" in item else set()

    def _records(self, refund_ids: list[str]) -> list[SimulatedRefund]:
        ids = [self.PREFIX + i for i in refund_ids]
        found = {r.refund_id: r for r in map(_from_item, self._items(ids, consistent=True))}
        return [found[i] for i in refund_ids if i in found]

    def _items(self, ids: list[str], consistent: bool) -> Iterator[dict[str, Any]]:
        """The items found under `ids` (distinct), in BatchGetItem calls of at most 100 keys."""
        for start in range(0, len(ids), self.BATCH):
            keys = [{"id": {"S": i}} for i in ids[start : start + self.BATCH]]
            yield from self._batch_get(keys, consistent)

    def _batch_get(self, keys: list[dict[str, Any]], consistent: bool) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": consistent}}
        while request:
            answer = self._client.batch_get_item(RequestItems=request)
            yield from answer["Responses"].get(self._table, [])
            request = answer.get("UnprocessedKeys") or {}


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _members_of(item: dict[str, Any], attribute: str) -> list[str]:
    members: list[str] = item.get(attribute, {}).get("SS", [])
    return members


def _hours(since: datetime, until: datetime) -> Iterator[str]:
    """Every hour that overlaps [since, until), as YYYY-MM-DDTHH."""
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour < until:
        yield _minute(hour)[:13]
        hour += timedelta(hours=1)


def _minutes(since: datetime, until: datetime) -> Iterator[str]:
    """Every minute that overlaps [since, until)."""
    minute = since.astimezone(UTC).replace(second=0, microsecond=0)
    while minute < until:
        yield _minute(minute)
        minute += timedelta(minutes=1)


def _days(since: datetime, until: datetime) -> Iterator[str]:
    day, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    while day <= last:
        yield day.isoformat()
        day += timedelta(days=1)


def _to_item(record: SimulatedRefund) -> dict[str, Any]:
    item: dict[str, Any] = {
        "refund_id": {"S": record.refund_id},
        "transaction_id": {"S": record.transaction_id},
        "amount": {"N": str(record.amount)},
        "currency": {"S": record.currency},
        "code": {"S": record.code},
        "reference": {"S": record.reference},
        "received_at": {"S": record.received_at.isoformat()},
        "payments": {"N": str(record.payments)},
    }
    if record.decided_at is not None:
        item["decided_at"] = {"S": record.decided_at.isoformat()}
    return item


def _from_item(item: dict[str, Any]) -> SimulatedRefund:
    decided_at = item.get("decided_at", {}).get("S")
    return SimulatedRefund(
        refund_id=item["refund_id"]["S"],
        transaction_id=item["transaction_id"]["S"],
        amount=int(item["amount"]["N"]),
        currency=item["currency"]["S"],
        code=item["code"]["S"],
        reference=item["reference"]["S"],
        received_at=datetime.fromisoformat(item["received_at"]["S"]),
        decided_at=datetime.fromisoformat(decided_at) if decided_at else None,
        payments=int(item["payments"]["N"]),
    )


@dataclass
class DueReport:
    """What one `decide_due()` did: pending refunds decided, webhooks delivered or not."""

    decided: list[str] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)


class InvalidSimulationError(ValueError):
    """The request's `metadata` asks for something the simulator does not do."""


class SimulatedProcessor:
    name = NAME

    def __init__(
        self,
        memory: SimulatorMemory,
        *,
        clock: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
        announce: bool = False,
        sender: WebhookSender | None = None,
        webhook_secret: str = "",
        pending_after: timedelta = timedelta(seconds=5),
        delivery_attempts: int = 3,
        retry_pause_seconds: float = 0.5,
    ):
        self.memory = memory
        self._clock = clock
        self._sleep = sleep
        self._announce = announce
        self._sender = sender
        self._secret = webhook_secret
        self._pending_after = pending_after
        self._attempts = delivery_attempts
        self._retry_pause = retry_pause_seconds

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        outcome = str(request.metadata.get("simulate", "approve"))
        if outcome == "network_error":
            raise ProcessorUnavailableError("simulated network error: nothing was sent")
        try:
            code, delay_ms = _simulation(outcome, request.metadata)
        except InvalidSimulationError as error:
            return normalized(
                ProcessorCode.INVALID_REQUEST,
                NAME,
                processor_code="sim_invalid_simulation",
                processor_message=str(error),
            )
        received_at = self._clock()
        self._sleep(delay_ms / 1000)  # received, not decided: a lookup finds nothing yet
        announce = self._announce and outcome in ANNOUNCED_OUTCOMES
        record = self.memory.add(self._decision(request, code, received_at), announce)
        if outcome == "timeout":
            raise ProcessorTimeoutError("simulated timeout: the answer was lost")
        return _result(record)

    def _decision(
        self, request: ProcessorRefundRequest, code: ProcessorCode, received_at: datetime
    ) -> SimulatedRefund:
        now = self._clock()
        paid = code is ProcessorCode.APPROVED
        return SimulatedRefund(
            refund_id=request.refund_id,
            transaction_id=request.transaction_id,
            amount=request.amount,
            currency=request.currency,
            code=code.value,
            reference=f"sim_{request.refund_id}",
            received_at=received_at,
            decided_at=None if code is ProcessorCode.PENDING else now,
            payments=1 if paid else 0,
        )

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        record = self.memory.get(request.refund_id)
        if record is None:
            return None
        if not record.decided:
            record = self.memory.decide(request.refund_id, self._clock())
        return _result(record)

    def refunds_between(
        self, since: datetime, until: datetime
    ) -> Iterable[ProcessorRefundRecord] | None:
        """Every refund decided in [since, until): succeeded if paid, failed if declined."""
        return [_listed(r) for r in self.memory.decided_between(since, until)]

    def decide_due(self) -> DueReport:
        """Decide the pending refunds whose time has come, and announce every decided refund
        still owed a webhook. Undelivered ones are logged and dropped, as a processor gives
        up retrying in the end."""
        report = DueReport()
        now = self._clock()
        for owed in self.memory.outbox():
            record = owed
            if not owed.decided:
                if now - owed.received_at < self._pending_after:
                    continue
                record = self.memory.decide(owed.refund_id, now)
                report.decided.append(record.refund_id)
            if self._sender is None:
                continue  # nobody to tell: it stays owed
            delivered = self._deliver(record)
            (report.delivered if delivered else report.undelivered).append(record.refund_id)
            self.memory.announced(record.refund_id)
        return report

    def webhook(self, record: SimulatedRefund, timestamp: int) -> tuple[dict[str, str], bytes]:
        """The signed delivery announcing `record`'s decision: headers and body."""
        assert record.decided_at is not None
        body = simulated_webhook.event_body(
            refund_id=record.refund_id,
            transaction_id=record.transaction_id,
            amount=record.amount,
            currency=record.currency,
            code=record.code,
            reference=record.reference,
            created=int(record.decided_at.timestamp()),
        )
        signature = simulated_webhook.signature_header(self._secret, timestamp, body)
        headers = {
            "Content-Type": "application/json",
            simulated_webhook.SIGNATURE_HEADER: signature,
        }
        return headers, body

    def _deliver(self, record: SimulatedRefund) -> bool:
        assert self._sender is not None
        for attempt in range(1, self._attempts + 1):
            headers, body = self.webhook(record, int(self._clock().timestamp()))
            try:
                status = self._sender(headers, body)
            except Exception as error:  # a delivery failure never stops the simulator
                problem = f"{type(error).__name__}: {error}"
            else:
                if 200 <= status < 300:
                    return True
                problem = f"HTTP {status}"
            log.warning(
                "simulated webhook for %s not delivered (attempt %d of %d): %s",
                record.refund_id,
                attempt,
                self._attempts,
                problem,
            )
            if attempt < self._attempts:
                self._sleep(self._retry_pause * attempt)
        return False


def _simulation(outcome: str, metadata: dict[str, Any]) -> tuple[ProcessorCode, int]:
    code = OUTCOME_CODES.get(outcome)
    if code is None:
        raise InvalidSimulationError(f"unknown simulate outcome {outcome!r}")
    delay = metadata.get("simulate_delay_ms", 0)
    valid = isinstance(delay, int) and not isinstance(delay, bool) and 0 <= delay <= MAX_DELAY_MS
    if not valid:
        raise InvalidSimulationError(
            f"simulate_delay_ms must be an integer from 0 to {MAX_DELAY_MS}, got {delay!r}"
        )
    return code, int(delay)


def _result(record: SimulatedRefund) -> ProcessorResult:
    code = ProcessorCode(record.code)
    return normalized(
        code,
        NAME,
        reference=record.reference,
        processor_code=_SIMULATOR_CODES.get(code, "sim_other"),
        processor_message=f"simulated {code.value.lower()}",
    )


def _listed(record: SimulatedRefund) -> ProcessorRefundRecord:
    assert record.decided_at is not None
    paid = record.code == ProcessorCode.APPROVED.value
    return ProcessorRefundRecord(
        processor=NAME,
        processor_reference=record.reference,
        refund_id=record.refund_id,
        amount=record.amount,
        currency=record.currency,
        status=ProcessorStatus.SUCCEEDED if paid else ProcessorStatus.FAILED,
        created_at=record.decided_at.astimezone(UTC).isoformat(),
    )
