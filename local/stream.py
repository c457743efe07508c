"""The ledger table's change stream, locally: DynamoDB Local's stream fed to the publisher.

`LocalChangeStream` plays the event source mapping: it reads the stream's shards in order
(parents before children), hands batches to the same `process_batch` Lambda runs, and on a
partial failure resumes from the first failed record, as the mapping does from its
checkpoint. A record that still fails after `max_attempts` goes to `failures` (the on-failure
destination) and the stream moves on. Events land in `LocalEventSink`, served by
`GET /local/events?after=<event_id>`.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from refund_service.handlers.stream_publisher import process_batch
from refund_service.service.events import RefundEvent
from refund_service.service.ports import LedgerStore, MetricsSink
from refund_service.service.queries import Verification

MAX_ATTEMPTS = 3
BATCH_SIZE = 100
EVENTS_PAGE = 1000


class LocalEventSink:
    """The bus, locally: events once each (deduplicated on event_id), in publication order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[RefundEvent] = []
        self._position: dict[str, int] = {}

    def publish(self, events: list[RefundEvent]) -> None:
        with self._lock:
            for event in events:
                if event.event_id not in self._position:
                    self._position[event.event_id] = len(self._events)
                    self._events.append(event)

    def after(self, event_id: str | None, limit: int = EVENTS_PAGE) -> list[dict[str, Any]]:
        """Events published after `event_id` (all when None; none after an unknown id), oldest
        first."""
        with self._lock:
            if event_id and event_id not in self._position:
                return []
            start = self._position[event_id] + 1 if event_id else 0
            return [e.as_dict() for e in self._events[start : start + limit]]

    def route(self, query: str) -> dict[str, Any]:
        """GET /local/events?after=<event_id>."""
        after = urllib.parse.parse_qs(query).get("after", [None])[0]
        return {"events": self.after(after)}


@dataclass
class _Shard:
    shard_id: str
    parent: str | None
    iterator: str | None = None
    closed: bool = False


@dataclass
class LocalChangeStream:
    dynamodb: Any
    streams: Any
    table_name: str
    store: LedgerStore
    sink: LocalEventSink
    metrics: MetricsSink
    max_attempts: int = MAX_ATTEMPTS
    batch_size: int = BATCH_SIZE
    failures: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[Verification] = field(default_factory=list)
    _shards: dict[str, _Shard] = field(default_factory=dict)
    _pending: deque[dict[str, Any]] = field(default_factory=deque)
    _attempts: dict[str, int] = field(default_factory=dict)

    def poll(self) -> int:
        """Read what the stream holds now and deliver it; the number of records read."""
        read = self._read()
        self._deliver()
        return read

    def drain(self, rounds: int = 20) -> None:
        """Poll until the stream has nothing new (tests and the demo wait on this)."""
        for _ in range(rounds):
            if self.poll() == 0 and not self._pending:
                return

    def _stream_arn(self) -> str:
        table = self.dynamodb.describe_table(TableName=self.table_name)["Table"]
        return str(table["LatestStreamArn"])

    def _discover(self) -> None:
        description = self.streams.describe_stream(StreamArn=self._stream_arn())
        arn = description["StreamDescription"]["StreamArn"]
        for shard in description["StreamDescription"]["Shards"]:
            if shard["ShardId"] not in self._shards:
                iterator = self.streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                self._shards[shard["ShardId"]] = _Shard(
                    shard["ShardId"], shard.get("ParentShardId"), iterator
                )

    def _ready(self, shard: _Shard) -> bool:
        parent = self._shards.get(shard.parent or "")
        return not shard.closed and (parent is None or parent.closed)

    def _read(self) -> int:
        self._discover()
        read = 0
        for shard in list(self._shards.values()):
            if not self._ready(shard):
                continue
            answer = self.streams.get_records(ShardIterator=shard.iterator, Limit=1000)
            records = answer.get("Records", [])
            self._pending.extend(records)
            read += len(records)
            shard.iterator = answer.get("NextShardIterator")
            shard.closed = shard.iterator is None
        return read

    def _deliver(self) -> None:
        while self._pending:
            batch = [self._pending[i] for i in range(min(self.batch_size, len(self._pending)))]
            response, report = process_batch(
                {"Records": batch},
                self.store,
                self.sink,
                self.metrics,
                raise_on_entire_batch_failure=False,
            )
            self.mismatches += report.mismatches
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            self._advance(batch, failed)

    def _advance(self, batch: list[dict[str, Any]], failed: set[str]) -> None:
        """Drop what succeeded up to the first failure (the checkpoint); retry from there."""
        for record in batch:
            sequence_number = record["dynamodb"]["SequenceNumber"]
            if sequence_number not in failed:
                self._pending.popleft()
                continue
            self._attempts[sequence_number] = self._attempts.get(sequence_number, 0) + 1
            if self._attempts[sequence_number] >= self.max_attempts:
                self.failures.append(self._pending.popleft())
            return


# The deployed mapping's batching window (stacks/constructs/change_stream.py): polling more
# often only verifies each changed transaction in more, smaller batches, on the CPU the
# local stack's requests share.
POLL_SECONDS = 1.0


@dataclass
class LocalStreamRunner:
    """The event source mapping's poller, locally: a thread reading the ledger's stream."""

    stream: LocalChangeStream

    @property
    def sink(self) -> LocalEventSink:
        return self.stream.sink

    @classmethod
    def start(
        cls, dynamodb_url: str, stopping: threading.Event, seconds: float = POLL_SECONDS
    ) -> LocalStreamRunner:
        import boto3  # noqa: PLC0415

        from refund_service.bootstrap import aws_client, build_stream_publisher  # noqa: PLC0415
        from refund_service.handlers import stream_publisher  # noqa: PLC0415

        settings = stream_publisher.SETTINGS.from_environ()
        # The stream publisher as its function is built, its events kept here instead of sent
        events = LocalEventSink()
        run = build_stream_publisher(settings, events=events)
        streams = boto3.session.Session().client("dynamodbstreams", endpoint_url=dynamodb_url)
        runner = cls(
            LocalChangeStream(
                aws_client("dynamodb"),
                streams,
                settings.ledger_table,
                run.store,
                events,
                run.metrics,
            )
        )
        threading.Thread(
            target=runner.run, args=(stopping, seconds), name="change-stream", daemon=True
        ).start()
        return runner

    def run(self, stopping: threading.Event, seconds: float) -> None:
        while not stopping.wait(seconds):
            try:
                self.stream.poll()
            except Exception as error:  # keep polling; the next poll retries from the same place
                print(f"change stream poll failed: {type(error).__name__}: {error}", flush=True)
