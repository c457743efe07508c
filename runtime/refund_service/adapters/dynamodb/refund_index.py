"""Keys of the refund search indexes (decision 0014), derived from the refund on every write.

All three indexes sort by `<created_at>#<refund_id>`, `created_at` in one fixed-width UTC form,
so comparing the text compares (created_at, refund_id). A status or day partition is spread
over `REFUND_SEARCH_SHARDS` shards chosen by a hash of the refund id, which never changes, so a
refund stays in its shard as its status moves.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

from refund_service.domain.refund import Refund, RefundStatus
from refund_service.storage.schema import REFUND_SEARCH_SHARDS

SEPARATOR = "#"
ATTRIBUTES = frozenset({"search_created", "search_txn", "search_status", "search_day"})


def sort_time(moment: datetime) -> str:
    """A moment as the indexes order it: UTC, milliseconds (the service's timestamp form)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def canonical_created_at(created_at: str) -> str:
    return sort_time(datetime.fromisoformat(created_at))


def sort_key(created_at: str, refund_id: str) -> str:
    return f"{created_at}{SEPARATOR}{refund_id}"


def shard_of(refund_id: str) -> int:
    digest = hashlib.sha256(refund_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % REFUND_SEARCH_SHARDS


def status_partition(status: RefundStatus, shard: int) -> str:
    return f"{status.value}{SEPARATOR}{shard}"


def day_partition(day: date, shard: int) -> str:
    return f"{day.isoformat()}{SEPARATOR}{shard}"


def index_attributes(refund: Refund) -> dict[str, str]:
    """The search-index attributes of a refund record, written with it in the same put."""
    created_at = canonical_created_at(refund.created_at)
    shard = shard_of(refund.refund_id)
    return {
        "search_created": sort_key(created_at, refund.refund_id),
        "search_txn": refund.transaction_id,
        "search_status": status_partition(refund.status, shard),
        "search_day": day_partition(date.fromisoformat(created_at[:10]), shard),
    }
