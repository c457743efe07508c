"""The webhooks handler finds the processor in the path, with `<ApiUrl>/webhooks/…`'s doubled
slash as well: ApiUrl already ends in "/"."""

from __future__ import annotations

import pytest

from refund_service.adapters.dynamodb.event_log import DynamoDBEventLog
from refund_service.bootstrap import build_webhooks
from refund_service.handlers.webhooks import receive
from tests.support.events import http_event
from tests.support.world import World, webhook_settings


def status_for(world: World, path: str) -> int:
    log = DynamoDBEventLog(world.client, world.tables["Idempotency"])
    run = build_webhooks(webhook_settings(world.tables), services=world.services, event_log=log)
    event = http_event("POST", path, "{}")
    event["rawPath"] = path  # as API Gateway passes it, slashes untouched
    return int(receive(event, run.services, run.settings, run.event_log)["statusCode"])


@pytest.mark.parametrize("path", ["/webhooks/simulated", "//webhooks/simulated"])
def test_the_configured_processor_is_found_with_one_or_two_slashes(world: World, path: str) -> None:
    # Unsigned, so refused by the signature check: the path itself was accepted
    assert status_for(world, path) == 401


@pytest.mark.parametrize("path", ["//webhooks/stripe", "/webhooks//simulated", "/simulated"])
def test_other_paths_are_not_served(world: World, path: str) -> None:
    assert status_for(world, path) == 404
