"""A local HTTP server that behaves like the HTTP API in front of the service's handlers.

Each request becomes an API Gateway payload-v2 event with the token's claims (checked as the
JWT authorizer checks them) and goes to the same handler function AWS calls; its status,
headers and body are the answer. Webhook routes carry no token: their handler checks the
processor's signature itself.

As API Gateway does, it routes only the methods a route can declare, spelled as declared (a
`get` or `FOO` matches no route), and a request for a route with a scope never reaches the
function without a valid token. Its own refusals use the error envelope the function answers
(docs/api.md), where API Gateway answers `{"message": ...}`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from local import auth
from local.events import payload_v2_event
from local.lambda_context import LocalLambdaContext
from refund_service.api.auth import required_scope
from refund_service.api.errors import error_body
from refund_service.domain.errors import ErrorCode

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
# The methods an HTTP API route can declare (besides ANY, which this API does not use).
ROUTABLE_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class Gateway:
    def __init__(
        self,
        key: rsa.RSAPrivateKey,
        api: Handler,
        webhooks: Handler,
        local_routes: dict[tuple[str, str], Callable[[], dict[str, Any]]],
    ):
        self.key = key
        self.api = api
        self.webhooks = webhooks
        self.local_routes = local_routes

    def respond(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        source_ip: str,
    ) -> tuple[int, dict[str, str], bytes]:
        if method not in ROUTABLE_METHODS:
            return _json(404, error_body(ErrorCode.NOT_FOUND, "No such route.", {"path": path}))
        if path == "/.well-known/jwks.json" and method == "GET":
            return _json(200, auth.jwks(self.key))
        if (method, path) in self.local_routes:
            if auth.verify(self.key, headers.get("authorization")) is None:
                return _json(401, {"message": "Unauthorized"})
            return _json(200, self.local_routes[(method, path)]())
        is_webhook = method == "POST" and path.startswith("/webhooks/")
        claims = None if is_webhook else auth.verify(self.key, headers.get("authorization"))
        if claims is None and required_scope(method, path) is not None:
            return _json(
                401, error_body(ErrorCode.UNAUTHORIZED, "A valid bearer token is required.")
            )
        text: bytes | str | None = None
        if body:
            try:
                text = body.decode()
            except UnicodeDecodeError:
                text = body
        event = payload_v2_event(
            method,
            path,
            body=text,
            headers=headers,
            query=query,
            claims=claims,
            source_ip=source_ip,
        )
        result = (self.webhooks if is_webhook else self.api)(event, LocalLambdaContext())
        return _from_lambda(result)


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _from_lambda(result: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    raw = result.get("body") or ""
    payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    return int(result.get("statusCode", 200)), headers, payload


class _Server(ThreadingHTTPServer):
    # The stdlib listens with a backlog of 5: a burst of clients beyond it is reset before
    # any thread accepts them. API Gateway queues them instead.
    request_queue_size = 1024
    daemon_threads = True


def make_server(host: str, port: int, gateway: Gateway) -> ThreadingHTTPServer:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "refund-service-local"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
        # holds the body back for the client's delayed ACK, about 40 ms per request.
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._send(*_json(413, {"message": "Request Entity Too Large"}))
                return
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                answer = gateway.respond(
                    self.command, path, query, headers, body, self.client_address[0]
                )
            except Exception:  # the gateway answers 500 itself when a function fails
                answer = _json(500, {"message": "Internal Server Error"})
            self._send(*answer)

        def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def __getattr__(self, name: str) -> Any:
            # Every method reaches routing, as at API Gateway; none gets the stdlib's HTML 501.
            if name.startswith("do_"):
                return self._handle
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:
            return  # the handlers log each request themselves, as JSON

    return _Server((host, port), RequestHandler)
