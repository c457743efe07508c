"""Fixtures shared by every suite: fake AWS credentials, moto tables, a test clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.world import MutableClock, World, make_world


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real AWS account, whatever the machine's configuration."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def dynamodb_local_endpoint() -> Iterator[str]:
    """AWS's DynamoDB Local on a free loopback port, for anything concurrent."""
    from tests.support.dynamodb_local import dynamodb_local

    with dynamodb_local() as endpoint:
        yield endpoint


@pytest.fixture
def local_dynamodb(dynamodb_local_endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client(
        "dynamodb",
        endpoint_url=dynamodb_local_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=config,
    )


@pytest.fixture
def moto_dynamodb() -> Iterator[Any]:
    from moto import mock_aws

    with mock_aws():
        import boto3

        yield boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
def world(moto_dynamodb: Any, clock: MutableClock) -> World:
    """The service on moto's DynamoDB with the simulated processor: single-threaded only."""
    return make_world(moto_dynamodb, clock)
