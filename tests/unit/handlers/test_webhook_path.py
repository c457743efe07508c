"""The webhooks handler finds the processor in the path, with `<ApiUrl>/webhooks/…`'s doubled
slash as well: ApiUrl already ends in "/"."""

from __future__ import annotations

import pytest

from refund_service.adapters.dynamodb.event_log import DynamoDBEventLog
from refund_service.handlers.webhooks import receive
from refund_service.settings import Settings
from tests.support.events import http_event
from tests.support.world import World


def status_for(world: World, path: str) -> int:
    settings = Settings(processor="simulated", idempotency_table=world.tables["Idempotency"])
    event = http_event("POST", path, "{}")
    event["rawPath"] = path  # as API Gateway passes it, slashes untouched
    log = DynamoDBEventLog(world.client, world.tables["Idempotency"])
    return int(receive(event, world.services, settings, log)["statusCode"])


@pytest.mark.parametrize("path", ["/webhooks/simulated", "//webhooks/simulated"])
def test_the_configured_processor_is_found_with_one_or_two_slashes(world: World, path: str) -> None:
    # Unsigned, so refused by the signature check: the path itself was accepted
    assert status_for(world, path) == 401


@pytest.mark.parametrize("path", ["//webhooks/stripe", "/webhooks//simulated", "/simulated"])
def test_other_paths_are_not_served(world: World, path: str) -> None:
    assert status_for(world, path) == 404
