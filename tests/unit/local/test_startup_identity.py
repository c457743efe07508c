"""The local stack runs only on the DynamoDB Local and moto server it started: a port taken by
another program between the stack's check and its child's bind is a StartupError, never a
stack quietly serving from someone else's tables or keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from local import processes
from local.config import HOST, LocalConfig
from local.processes import StartupError, confirm_own_data
from local.stack import LocalStack
from tests.support.dynamodb_local import dynamodb_local, free_ports

pytestmark = pytest.mark.dynamodb_local


@pytest.fixture
def foreign_servers() -> Iterator[list[ThreadedMotoServer]]:
    servers: list[ThreadedMotoServer] = []
    yield servers
    for server in servers:
        server.stop()


def taken_after_the_check(
    monkeypatch: pytest.MonkeyPatch,
    module: object,
    port: int,
    servers: list[ThreadedMotoServer],
) -> None:
    """Another program (another stack's moto server) binds `port` in the window after the
    port is found free and before our child binds it: every check saw it free."""
    really_free = processes.port_is_free

    def free_then_taken(candidate: int) -> bool:
        if candidate != port:
            return really_free(candidate)
        if not servers:
            server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
            server.start()
            servers.append(server)
        return True

    monkeypatch.setattr(module, "port_is_free", free_then_taken, raising=False)


def local_config(data_dir: Path) -> LocalConfig:
    port, dynamodb_port, moto_port = free_ports(3)
    return LocalConfig(
        data_dir=data_dir, port=port, dynamodb_port=dynamodb_port, moto_port=moto_port
    )


@pytest.mark.parametrize(
    ("contested", "what"), [("dynamodb_port", "DynamoDB Local"), ("moto_port", "moto server")]
)
def test_a_port_taken_after_the_check_stops_the_stack(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    foreign_servers: list[ThreadedMotoServer],
    contested: str,
    what: str,
) -> None:
    config = local_config(tmp_path)
    port = getattr(config, contested)
    taken_after_the_check(monkeypatch, processes, port, foreign_servers)
    stack = LocalStack(config)
    try:
        with pytest.raises(StartupError, match=rf"^Port {port} \({what}\)"):
            stack.start()
    finally:
        stack.stop()
    assert foreign_servers, "the foreign server never took the port"


def test_one_port_for_two_stand_ins_is_refused_before_anything_starts(tmp_path: Path) -> None:
    port, api_port = free_ports(2)
    config = LocalConfig(data_dir=tmp_path, port=api_port, dynamodb_port=port, moto_port=port)
    stack = LocalStack(config)
    try:
        with pytest.raises(StartupError) as refused:
            stack.start()
    finally:
        stack.stop()
    assert str(refused.value) == (
        f"Port {port} is set for both DynamoDB Local and moto server; give each its own "
        "(PORT, DYNAMODB_PORT, MOTO_PORT)."
    )
    assert stack.processes == []


def test_dynamodb_local_keeping_its_data_elsewhere_is_not_ours(tmp_path: Path) -> None:
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    theirs.mkdir()
    ours.mkdir()
    with dynamodb_local(db_path=theirs) as endpoint:
        port = int(endpoint.rsplit(":", 1)[1])
        confirm_own_data(port, theirs)
        assert list(theirs.iterdir()) == [], "the probe's file is not left behind"
        with pytest.raises(StartupError, match=rf"^Port {port} \(DynamoDB Local\) is answered"):
            confirm_own_data(port, ours)
    assert list(ours.iterdir()) == []


def test_moto_answering_for_dynamodb_is_not_ours(
    tmp_path: Path, foreign_servers: list[ThreadedMotoServer]
) -> None:
    (port,) = free_ports(1)
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    foreign_servers.append(server)
    with pytest.raises(StartupError, match=rf"^Port {port} \(DynamoDB Local\)"):
        confirm_own_data(port, tmp_path)


def test_the_test_helper_refuses_a_port_taken_after_its_check(
    monkeypatch: pytest.MonkeyPatch, foreign_servers: list[ThreadedMotoServer]
) -> None:
    from tests.support import dynamodb_local as helper

    (port,) = free_ports(1)
    taken_after_the_check(monkeypatch, helper, port, foreign_servers)
    with pytest.raises(StartupError, match=rf"^Port {port} \(DynamoDB Local\) was taken"):  # noqa: SIM117
        with dynamodb_local(port=port):
            pass
    assert foreign_servers


def test_the_test_helper_refuses_a_port_already_answering(
    foreign_servers: list[ThreadedMotoServer],
) -> None:
    (port,) = free_ports(1)
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    foreign_servers.append(server)
    with pytest.raises(RuntimeError, match=rf"^Port {port} is already in use"):  # noqa: SIM117
        with dynamodb_local(port=port):
            pass
