"""The local gateway's HTTP server under a burst: every client is answered, none is reset."""

from __future__ import annotations

import http.client
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local.gateway import make_server

CLIENTS = 64


class InstantGateway:
    """Answers every request at once, so only the server's accept path is measured."""

    def respond(self, *_: Any) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/json"}, b"{}"


def test_a_burst_of_64_clients_is_answered_without_a_reset() -> None:
    server = make_server("127.0.0.1", 0, InstantGateway())  # type: ignore[arg-type]
    port = server.server_address[1]
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    start = threading.Barrier(CLIENTS)

    def one() -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        start.wait()
        connection.request("GET", "/openapi.json")
        status = connection.getresponse().status
        connection.close()
        return status

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = list(pool.map(lambda _: one(), range(CLIENTS)))
    finally:
        server.shutdown()
        server.server_close()
    assert statuses == [200] * CLIENTS


def test_answers_leave_without_waiting_for_the_clients_ack() -> None:
    server = make_server("127.0.0.1", 0, InstantGateway())  # type: ignore[arg-type]
    try:
        assert server.request_queue_size >= CLIENTS
        handler = server.RequestHandlerClass
        assert getattr(handler, "disable_nagle_algorithm", False) is True
        assert socket.TCP_NODELAY  # the option the stdlib sets for it
    finally:
        server.server_close()
