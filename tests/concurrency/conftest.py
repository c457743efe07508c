"""The world every concurrency test races in: the service on DynamoDB Local, tables of its own."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any

import pytest

from tests.support.world import MutableClock, World, make_world


@pytest.fixture
def world(local_dynamodb: Any) -> World:
    world = make_world(local_dynamodb, MutableClock(), suffix=f"-{uuid.uuid4().hex[:8]}")
    world.services.sleep = time.sleep  # real back-off between optimistic retries
    # These tests are about what concurrency may never break, not about how long a request
    # may wait: give the retries room, on this shared two-core machine, to finish the race.
    world.services.policy = replace(world.services.policy, max_contention_seconds=300.0)
    return world
