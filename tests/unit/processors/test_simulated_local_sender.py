"""The local stack's webhook sender: the simulator's deliveries reach a loopback receiver as
sent, and the receiver's status comes back, whatever it is."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local.simulator import WEBHOOK_PATH, http_sender


class Receiver:
    def __init__(self, status: int):
        self.status = status
        self.received: list[tuple[str, dict[str, str], bytes]] = []


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver(200)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append((self.path, dict(self.headers.items()), body))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}{WEBHOOK_PATH}"
    server.shutdown()
    server.server_close()


def test_a_delivery_is_posted_as_given_and_its_status_answered(
    receiver: tuple[Receiver, str],
) -> None:
    state, url = receiver
    send = http_sender(url)

    status = send({"Simulated-Signature": "t=1,v1=ab", "Content-Type": "application/json"}, b"{}")

    assert status == 200
    [(path, headers, body)] = state.received
    assert (path, body, headers["Simulated-Signature"]) == (WEBHOOK_PATH, b"{}", "t=1,v1=ab")


@pytest.mark.parametrize("refusal", [401, 404, 500])
def test_a_refusal_is_answered_as_its_status_not_raised(
    receiver: tuple[Receiver, str], refusal: int
) -> None:
    state, url = receiver
    state.status = refusal
    assert http_sender(url)({}, b"{}") == refusal


def test_only_loopback_targets_are_accepted() -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        http_sender("https://hooks.example.com/webhooks/simulated")
