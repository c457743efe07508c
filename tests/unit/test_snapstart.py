"""SnapStart hooks: priming makes no AWS call, and restored copies share no key, seed or socket.

The data key's restore is simulated with fork(): each child starts from the parent's memory as
each environment restored from one snapshot does, runs the restore hook, and reports back.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from refund_service import snapstart
from refund_service.adapters.kms_envelope import KmsEnvelopeEncryptor
from refund_service.bootstrap import aws_client
from tests.support.environments import API_ENVIRON


def in_restored_copies(copies: int, work: Callable[[], str]) -> list[str]:
    """Runs `work` in `copies` forked children of this process; returns what each returned."""
    answers = []
    for _ in range(copies):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never back into pytest
            os.close(read)
            status = 0
            try:
                os.write(write, work().encode())
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        os.close(write)
        with os.fdopen(read) as answer:
            answers.append(answer.read())
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    return answers


@pytest.fixture
def kms() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1")


def data_key_of(token: str) -> str:
    return token.split(".")[1]  # v1.<encrypted data key>.<nonce>.<sealed>


def test_restored_copies_each_ask_kms_for_their_own_data_key(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    encryptor = KmsEnvelopeEncryptor(kms, key_id)
    before = data_key_of(encryptor.encrypt("ops@example.com", "email"))

    def restored() -> str:
        snapstart.after_restore()
        return data_key_of(encryptor.encrypt("ops@example.com", "email"))

    def not_restored() -> str:
        return data_key_of(encryptor.encrypt("ops@example.com", "email"))

    # Without the hook, every copy seals under the snapshot's key...
    assert in_restored_copies(2, not_restored) == [before, before]
    # ...with it, each copy has a key of its own.
    first, second = in_restored_copies(2, restored)
    assert len({before, first, second}) == 3


def test_restored_copies_draw_different_random_numbers() -> None:
    # fork() reseeds `random` in the child by itself, a restore does not: each copy here
    # starts from the state frozen into the snapshot.
    random.seed(2024)
    snapshot = random.getstate()

    def copy(restore: bool) -> float:
        random.setstate(snapshot)
        if restore:
            snapstart.after_restore()
        return random.random()

    assert copy(restore=False) == copy(restore=False)  # the premise: one state, one sequence
    first, second = copy(restore=True), copy(restore=True)
    assert first != second
    assert copy(restore=False) not in (first, second)


def test_restore_empties_the_connection_pools_and_the_client_still_works() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        manager = client._endpoint.http_session._manager
        manager.connection_from_url("https://dynamodb.us-east-1.amazonaws.com")
        manager.connection_from_url("https://dynamodb.us-east-1.amazonaws.com:8443")
        assert len(manager.pools) == 2
        assert snapstart.empty_connection_pools([client]) == 2
        assert len(manager.pools) == 0
        assert client.list_tables()["TableNames"] == []


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The API's caches emptied, as in a new process, and AWS mocked."""
    from refund_service.handlers import api

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name, value in API_ENVIRON.items():
        monkeypatch.setenv(name, value)
    aws_client.cache_clear()
    api.runtime.cache_clear()
    with mock_aws():
        yield
    aws_client.cache_clear()
    api.runtime.cache_clear()


@pytest.mark.usefixtures("fresh_process")
def test_priming_builds_clients_and_runtime_without_any_aws_call() -> None:
    from refund_service.handlers import api

    calls: list[str] = []
    original = boto3.session.Session.client

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
        return client

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(boto3.session.Session, "client", counted)
        snapstart.before_snapshot()
    assert calls == []
    assert api.runtime.cache_info().currsize == 1  # built, so the first request does not
    primed = api.runtime()
    assert isinstance(primed.encryptor, KmsEnvelopeEncryptor)
    assert primed.encryptor._key is None  # no data key in the snapshot
    assert snapstart._primed_clients == [aws_client(s) for s in snapstart.PRIMED_SERVICES]


@pytest.mark.usefixtures("fresh_process")
def test_a_vendor_processor_is_not_built_before_the_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from refund_service.handlers import api

    monkeypatch.setenv("PROCESSOR", "stripe")  # building it would read its secret
    snapstart.before_snapshot()
    assert api.runtime.cache_info().currsize == 0
    assert len(snapstart._primed_clients) == len(snapstart.PRIMED_SERVICES)


def test_hooks_are_not_registered_outside_lambda() -> None:
    assert snapstart.register() is False  # no snapshot_restore_py here
