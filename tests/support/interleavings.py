"""Wrappers that make a race deterministic: another request commits at a chosen point of this
one's reads, or the processor is unreachable for a while (tests/*/test_attack_*.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from refund_service.domain.processor import (
    ProcessorRefundRecord,
    ProcessorRefundRequest,
    ProcessorResult,
    ProcessorUnavailableError,
)


class CommitWithinBatchRead:
    """The ledger's client, except that the next batch read of a head with a key pointer reads
    `first` ("HEAD" or "KEY"), lets another request commit (`between`), then reads the other:
    the batch's two strongly consistent reads fall on either side of that commit."""

    def __init__(self, inner: Any, between: Callable[[], None], first: str):
        self.inner, self.first = inner, first
        self.between: Callable[[], None] | None = between

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def batch_get_item(self, **kwargs: Any) -> dict[str, Any]:
        [(table, request)] = kwargs["RequestItems"].items()
        kinds = [key["sk"]["S"].split("#")[0] for key in request["Keys"]]
        if self.between is None or sorted(kinds) != ["HEAD", "KEY"]:
            answer: dict[str, Any] = self.inner.batch_get_item(**kwargs)
            return answer
        between, self.between = self.between, None
        ordered = sorted(
            request["Keys"], key=lambda key: key["sk"]["S"].split("#")[0] != self.first
        )
        items = [self._read(table, ordered[0])]
        between()
        items.append(self._read(table, ordered[1]))
        return {"Responses": {table: [item for item in items if item is not None]}}

    def _read(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        found = self.inner.get_item(TableName=table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = found.get("Item")
        return item


class ProcessorFor:
    """The world's processor for the next `times` refund requests answered otherwise
    (`answer`); lookups and listings go to it unchanged."""

    def __init__(self, inner: Any, times: int):
        self.inner, self.name, self.times = inner, inner.name, times

    def answer(self, request: ProcessorRefundRequest) -> ProcessorResult:
        raise NotImplementedError

    def refund(self, request: ProcessorRefundRequest) -> ProcessorResult:
        if self.times:
            self.times -= 1
            return self.answer(request)
        result: ProcessorResult = self.inner.refund(request)
        return result

    def lookup(self, request: ProcessorRefundRequest) -> ProcessorResult | None:
        result: ProcessorResult | None = self.inner.lookup(request)
        return result

    def refunds_between(
        self, since: datetime, until: datetime
    ) -> Iterable[ProcessorRefundRecord] | None:
        records: Iterable[ProcessorRefundRecord] | None = self.inner.refunds_between(since, until)
        return records


class UnreachableFor(ProcessorFor):
    """The world's processor, unreachable for the next `times` requests (nothing sent)."""

    def answer(self, request: ProcessorRefundRequest) -> ProcessorResult:
        raise ProcessorUnavailableError("nothing was sent")
