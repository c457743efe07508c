"""EventSink on an EventBridge bus: PutEvents, and an error unless every entry was accepted."""

from __future__ import annotations

import json
from typing import Any

from refund_service.service.events import EVENT_SOURCE, RefundEvent

_MAX_ENTRIES_PER_CALL = 10  # PutEvents' limit


class EventPublishError(Exception):
    """EventBridge refused some entries: the record is retried, so nothing is lost."""


class EventBridgeSink:
    def __init__(self, client: Any, bus_name: str):
        self._client = client
        self._bus_name = bus_name

    def publish(self, events: list[RefundEvent]) -> None:
        for start in range(0, len(events), _MAX_ENTRIES_PER_CALL):
            self._put(events[start : start + _MAX_ENTRIES_PER_CALL])

    def _put(self, events: list[RefundEvent]) -> None:
        answer = self._client.put_events(
            Entries=[
                {
                    "EventBusName": self._bus_name,
                    "Source": EVENT_SOURCE,
                    "DetailType": event.detail_type,
                    "Detail": json.dumps(event.detail),
                    "Resources": [],
                }
                for event in events
            ]
        )
        if answer.get("FailedEntryCount", 0):
            codes = [e.get("ErrorCode") for e in answer.get("Entries", []) if e.get("ErrorCode")]
            raise EventPublishError(f"EventBridge refused {answer['FailedEntryCount']}: {codes}")
