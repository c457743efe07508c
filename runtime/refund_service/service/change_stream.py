"""The ledger table's change stream: publish each committed entry's event and verify each
changed transaction (SPEC 3 and 4.2).

One `ChangeBatch` handles one batch of stream records, one record at a time, in stream order.
A record that fails holds back the later records of its transaction in the same batch, so no
transaction's events are published out of ledger order; records of other transactions go on.
Verification costs two consistent Queries per changed transaction per batch, whatever the
size of the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from refund_service import observability_names as names
from refund_service.domain.audit import AuditRecord
from refund_service.domain.ledger import Entry, EntryType
from refund_service.service.events import EventSink, RefundEvent, event_for
from refund_service.service.ports import LedgerStore, MetricsSink
from refund_service.service.queries import Verification, verify_transaction


@dataclass(frozen=True)
class StreamChange:
    """One stream record: the item it changed, as far as the ledger is concerned."""

    sequence_number: str
    transaction_id: str | None  # None for items of no transaction (payment aliases)
    entry: Entry | None = None  # the entry, when the item is one


class HeldBackError(Exception):
    """An earlier record of the same transaction failed in this batch: retried after it."""


@dataclass
class BatchReport:
    published: list[RefundEvent] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    mismatches: list[Verification] = field(default_factory=list)


class ChangeBatch:
    def __init__(
        self, store: LedgerStore, sink: EventSink, metrics: MetricsSink, *, verify: bool = True
    ):
        self._store = store
        self._sink = sink
        self._metrics = metrics
        self._verify = verify
        self._failed: set[str] = set()
        self._verified: set[str] = set()
        self.report = BatchReport()

    def handle(self, change: StreamChange) -> RefundEvent | None:
        """Verify the change's transaction (once per batch) and publish its entry's event."""
        transaction_id = change.transaction_id
        if transaction_id is None:
            return None
        if transaction_id in self._failed:
            raise HeldBackError(transaction_id)
        try:
            self._verify_once(transaction_id)
            return self._publish(change.entry)
        except Exception:
            self._failed.add(transaction_id)
            raise

    def _verify_once(self, transaction_id: str) -> None:
        if not self._verify or transaction_id in self._verified:
            return
        result = verify_transaction(self._store, transaction_id)
        self._verified.add(transaction_id)
        self.report.verified.append(transaction_id)
        self._metrics.count(names.LEDGER_VERIFIED)
        if not result.ok:
            self.report.mismatches.append(result)
            self._metrics.count(names.LEDGER_MISMATCH)

    def _publish(self, entry: Entry | None) -> RefundEvent | None:
        if entry is None:
            return None
        event = event_for(entry, self._audit_for(entry))
        if event is None:
            return None
        self._sink.publish([event])
        self.report.published.append(event)
        return event

    def _audit_for(self, entry: Entry) -> list[AuditRecord]:
        """Only a reversal's event depends on the audit trail (rollback or processor?)."""
        if entry.type is not EntryType.REVERSAL:
            return []
        return self._store.audit_records(entry.transaction_id)
