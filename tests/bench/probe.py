"""Runs in a fresh process: import a handler, answer requests, report timings and AWS calls.

`python -m tests.bench.probe MODE OUT.json` with the handler's environment set by the caller.
Only the standard library is imported before the clock starts, so the import of the handler
is measured whole. Modes: `cold-service`, `cold-bare`, `snapstart`, `first-fx`, `aws-calls`.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from typing import Any  # noqa: E402

SIMULATOR_PREFIX = b"simulated-processor#"
CLAIMS = {
    "iss": "https://refund-service.local/",
    "aud": "refund-service",
    "sub": "bench-user",
    "scope": "refunds:write refunds:read refunds:admin ledger:write",
    "email": "bench.user@example.com",
}


class Context:
    function_name = "refund-service-bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:refund-service"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def event(method: str, path: str, route: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    """A payload-v2 event as the HTTP API (and the local gateway) builds it."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "idempotency-key": key},
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "domainName": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {route}",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
            "authorizer": {"jwt": {"claims": CLAIMS, "scopes": None}},
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def refund_event(transaction_id: str, amount: int, currency: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"transaction_id": transaction_id, "amount": amount, "reason": "other"}
    if currency:
        body["currency"] = currency
    return event("POST", "/refunds", "/refunds", body, f"bench-{uuid.uuid4()}")


def cold_service(payments: list[str]) -> dict[str, Any]:
    from refund_service.handlers import api

    imported = time.perf_counter()
    answer = api.handler(refund_event(payments[0], 1), Context())
    answered = time.perf_counter()
    return {
        "import_ms": (imported - STARTED) * 1000,
        "first_ms": (answered - imported) * 1000,
        "status": answer["statusCode"],
    }


def cold_bare(payments: list[str]) -> dict[str, Any]:
    from tests.bench import bare_handler

    imported = time.perf_counter()
    body = {"transaction_id": payments[0], "amount": 1}
    request = event("POST", "/refunds", "/refunds", body, "unused")
    answer = bare_handler.handler(request, Context())
    answered = time.perf_counter()
    return {
        "import_ms": (imported - STARTED) * 1000,
        "first_ms": (answered - imported) * 1000,
        "status": answer["statusCode"],
    }


def snapstart(payments: list[str]) -> dict[str, Any]:
    """Prime as before a snapshot, restore, then a first refund and a warm one."""
    from refund_service import snapstart as hooks
    from refund_service.handlers import api

    imported = time.perf_counter()
    hooks.before_snapshot()
    primed = time.perf_counter()
    hooks.after_restore()
    restored = time.perf_counter()
    first = api.handler(refund_event(payments[0], 1), Context())
    answered = time.perf_counter()
    warm = api.handler(refund_event(payments[1], 1), Context())
    warm_answered = time.perf_counter()
    return {
        "import_ms": (imported - STARTED) * 1000,
        "prime_ms": (primed - imported) * 1000,
        "restore_ms": (restored - primed) * 1000,
        "first_ms": (answered - restored) * 1000,
        "warm_ms": (warm_answered - answered) * 1000,
        "status": first["statusCode"],
        "warm_status": warm["statusCode"],
    }


def first_fx(payments: list[str]) -> dict[str, Any]:
    """A first refund in another currency than the payment's, in a fresh process."""
    from refund_service.handlers import api

    imported = time.perf_counter()
    answer = api.handler(refund_event(payments[0], 1, currency="EUR"), Context())
    answered = time.perf_counter()
    rates = api.runtime().services.rates
    bundled = getattr(rates, "_bundled", rates)  # the stored source falls back to this one
    return {
        "import_ms": (imported - STARTED) * 1000,
        "first_ms": (answered - imported) * 1000,
        "status": answer["statusCode"],
        "served_by": "bundled" if "_converter" in vars(bundled) else type(rates).__name__,
    }


class CallRecorder:
    """Counts AWS API calls (not HTTP attempts) by service, operation and purpose, and times them.

    A call is timed from its client's first event (`provide-client-params`, before parameter
    validation and serialization) to `after-call` (response parsed), or `after-call-error` when
    no response came: everything botocore does for it, retries and the network included. The
    start is kept in the call's own context dict, so calls from other threads cannot mix.
    """

    STARTED = "bench_started"
    KEY = "bench_key"

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.timed: Counter[str] = Counter()
        self.ms: Counter[str] = Counter()

    def register(self, client: Any) -> None:
        events = client.meta.events
        events.register("provide-client-params.*.*", self.start)
        events.register("before-call.*.*", self.count)
        events.register("after-call.*.*", self.stop)
        events.register("after-call-error.*.*", self.stop)

    def start(self, context: dict[str, Any], **_: Any) -> None:
        context[self.STARTED] = time.perf_counter()

    def count(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        body = params.get("body") or b""
        body = body if isinstance(body, bytes) else str(body).encode()
        service = model.service_model.service_name
        if service == "dynamodb" and SIMULATOR_PREFIX in body:
            purpose = "processor stand-in"
        elif service == "dynamodb" and b"RefundIdempotency" in body:
            purpose = "idempotency"
        elif service == "dynamodb":
            purpose = "ledger"
        else:
            purpose = service
        key = f"{service}:{model.name}:{purpose}"
        self.calls[key] += 1
        context[self.KEY] = key

    def stop(self, context: dict[str, Any], **_: Any) -> None:
        key, started = context.pop(self.KEY, None), context.pop(self.STARTED, None)
        if key is not None and started is not None:
            self.ms[key] += (time.perf_counter() - started) * 1000
            self.timed[key] += 1

    def take(self) -> dict[str, Any]:
        """What the calls since the last take made: counts, and timed counts and ms per key."""
        taken = {"calls": dict(self.calls), "timed": dict(self.timed), "ms": dict(self.ms)}
        for counter in (self.calls, self.timed, self.ms):
            counter.clear()
        return taken


def aws_calls(payments: list[str]) -> dict[str, Any]:
    """Refunds in one process, each with its calls, their times and its own wall time."""
    from refund_service.bootstrap import aws_client
    from refund_service.handlers import api

    recorder = CallRecorder()
    for service in ("dynamodb", "kms", "cloudwatch"):
        recorder.register(aws_client(service))
    results = []
    for transaction_id in payments:
        request = refund_event(transaction_id, 1)
        started = time.perf_counter()
        answer = api.handler(request, Context())
        wall_ms = (time.perf_counter() - started) * 1000
        results.append({"status": answer["statusCode"], "wall_ms": wall_ms, **recorder.take()})
    return {"first": results[0], "warm": results[1:]}


MODES = {
    "cold-service": cold_service,
    "cold-bare": cold_bare,
    "snapstart": snapstart,
    "first-fx": first_fx,
    "aws-calls": aws_calls,
}


def main(argv: list[str]) -> int:
    mode, out = argv[1], argv[2]
    payments = [p for p in os.environ.get("BENCH_PAYMENTS", "").split(",") if p]
    result = MODES[mode](payments)
    with open(out, "w") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
