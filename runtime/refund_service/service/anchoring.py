"""Anchoring: commit the audit chain heads to storage that nobody can rewrite, every hour.

Each run takes the heads that changed in one hour (the ledger's sparse index, so the cost
follows the changes, not the table), makes one Merkle root over (transaction id, seq, hash)
and writes an anchor document holding the root, the leaves and the digest of the anchor
before it. In AWS the documents go to an S3 bucket under Object Lock in compliance mode.

`check_anchor` is what `verify` adds: the latest anchor that covers a transaction must prove
the leaf by its Merkle root, and the chain must still hold, at the anchored seq, the record
with the anchored hash. A chain rewritten consistently in the table fails there.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from refund_service.domain.audit import AuditRecord, canonical_json
from refund_service.domain.merkle import inclusion_proof, merkle_root, verify_inclusion

ANCHOR_VERSION = 1
MAX_HOURS_PER_RUN = 48  # catching up after an outage: at most two days per run
HOUR = timedelta(hours=1)
# An hour is anchored only once it has been over this long: the index is eventually
# consistent, and a head written in the hour's last moment must be in it when it is read.
SETTLE = timedelta(minutes=5)

Leaf = tuple[str, int, str]  # transaction id, audit seq, audit hash


class ChangedHeads(Protocol):
    def heads_changed_in(self, hour: str) -> Iterator[Leaf]: ...


class AnchorStore(Protocol):
    def put(self, document: dict[str, Any]) -> None:
        """Write an anchor once; it can never be changed or deleted afterwards."""
        ...

    def newest_first(self) -> Iterator[dict[str, Any]]:
        """Every anchor document, the newest first."""
        ...


def hour_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def leaf_bytes(leaf: Leaf) -> bytes:
    return canonical_json(list(leaf)).encode()


def document_digest(document: dict[str, Any]) -> str:
    content = {k: v for k, v in document.items() if k != "digest"}
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def build_anchor(
    hour: str, heads: Iterable[Leaf], previous: dict[str, Any] | None, now: datetime
) -> dict[str, Any]:
    # One leaf per transaction: a head read twice (it moved shard or was re-read) keeps its
    # longest chain.
    latest: dict[str, Leaf] = {}
    for leaf in heads:
        if leaf[0] not in latest or leaf[1] > latest[leaf[0]][1]:
            latest[leaf[0]] = (leaf[0], int(leaf[1]), leaf[2])
    leaves = [latest[txn] for txn in sorted(latest)]
    document: dict[str, Any] = {
        "version": ANCHOR_VERSION,
        "anchor_id": hour,
        "created_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "previous_digest": previous["digest"] if previous else None,
        "root": merkle_root([leaf_bytes(leaf) for leaf in leaves]).hex(),
        "leaves": [list(leaf) for leaf in leaves],
    }
    document["digest"] = document_digest(document)
    return document


def hours_to_anchor(latest: dict[str, Any] | None, now: datetime) -> list[str]:
    """Every complete, settled hour after the latest anchor's, oldest first; the last one
    alone on the first run."""
    settled = (now - SETTLE).astimezone(UTC)
    last_complete = settled.replace(minute=0, second=0, microsecond=0) - HOUR
    if latest is None:
        return [hour_of(last_complete)]
    start = datetime.strptime(latest["anchor_id"], "%Y-%m-%dT%H").replace(tzinfo=UTC) + HOUR
    hours: list[str] = []
    while start <= last_complete and len(hours) < MAX_HOURS_PER_RUN:
        hours.append(hour_of(start))
        start += HOUR
    return hours


@dataclass(frozen=True)
class AnchorRun:
    anchors: list[str]  # anchor ids written, oldest first
    leaves: int


def run_anchoring(
    heads: ChangedHeads, anchors: AnchorStore, clock: Callable[[], datetime]
) -> AnchorRun:
    """Anchor each complete hour not anchored yet, each anchor chained to the one before."""
    now = clock()
    latest = next(anchors.newest_first(), None)
    written, leaves = [], 0
    for hour in hours_to_anchor(latest, now):
        document = build_anchor(hour, heads.heads_changed_in(hour), latest, now)
        anchors.put(document)
        written.append(hour)
        leaves += len(document["leaves"])
        latest = document
    return AnchorRun(written, leaves)


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorCheck:
    ok: bool
    anchor_id: str | None = None  # the latest anchor covering the transaction
    anchored_seq: int | None = None
    reason: str | None = None


def _find_leaf(document: dict[str, Any], transaction_id: str) -> int | None:
    ids = [leaf[0] for leaf in document["leaves"]]
    index = bisect.bisect_left(ids, transaction_id)
    return index if index < len(ids) and ids[index] == transaction_id else None


def _proven(document: dict[str, Any], index: int) -> bool:
    leaves = [leaf_bytes((t, s, h)) for t, s, h in document["leaves"]]
    proof = inclusion_proof(leaves, index)
    root = bytes.fromhex(document["root"])
    return verify_inclusion(leaves[index], index, len(leaves), proof, root)


def check_anchor(
    anchors: AnchorStore, transaction_id: str, records: list[AuditRecord]
) -> AnchorCheck:
    """The chain against the newest anchor that covers the transaction (anchors are read
    newest first until one does). A transaction changed since the last anchor is checked up
    to what was anchored; one never anchored yet passes with that said."""
    for document in anchors.newest_first():
        anchor_id = document.get("anchor_id")
        if document_digest(document) != document.get("digest"):
            return AnchorCheck(False, anchor_id, None, "anchor document does not match its digest")
        index = _find_leaf(document, transaction_id)
        if index is None:
            continue
        _, seq, anchored_hash = document["leaves"][index]
        if not _proven(document, index):
            return AnchorCheck(False, anchor_id, seq, "Merkle proof does not reach the anchor root")
        held = records[seq - 1] if 0 < seq <= len(records) else None
        if held is None or held.seq != seq:
            return AnchorCheck(
                False, anchor_id, seq, "the chain no longer holds the anchored record"
            )
        if held.hash != anchored_hash:
            return AnchorCheck(False, anchor_id, seq, "record hash differs from the anchored head")
        return AnchorCheck(True, anchor_id, seq)
    return AnchorCheck(True, None, None, "not anchored yet")


def verify_anchor_chain(anchors: AnchorStore) -> str | None:
    """None when every anchor's digest holds and links to the one before; else the problem."""
    newer: dict[str, Any] | None = None
    for document in anchors.newest_first():
        if document_digest(document) != document.get("digest"):
            return f"anchor {document.get('anchor_id')} does not match its digest"
        if newer is not None and newer.get("previous_digest") != document["digest"]:
            return f"anchor {newer.get('anchor_id')} does not link to {document.get('anchor_id')}"
        newer = document
    return None


class CachedAnchors:
    """One run's view of an anchor store: each anchor is fetched once, however many
    transactions are checked against it (verify-all checks them all)."""

    def __init__(self, store: AnchorStore):
        self._store = store
        self._read: list[dict[str, Any]] = []
        self._source: Iterator[dict[str, Any]] | None = None

    def put(self, document: dict[str, Any]) -> None:
        self._store.put(document)
        self._read, self._source = [], None

    def newest_first(self) -> Iterator[dict[str, Any]]:
        if self._source is None:
            self._source = self._store.newest_first()
        yield from list(self._read)
        for document in self._source:
            self._read.append(document)
            yield document
