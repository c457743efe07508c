"""The local stack over HTTP: every route, the authorizer's checks, a race, a restart."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from local.config import AUDIENCE, ISSUER
from tests.integration.conftest import RunningStack, start_stack, stop_stack
from tests.support.dynamodb_local import ROOT, free_ports


def new_payment(stack: RunningStack, amount: int = 10_000, **extra: Any) -> str:
    tid = f"it-{uuid.uuid4().hex[:10]}"
    body = {
        "transaction_id": tid,
        "amount": amount,
        "currency": "USD",
        "status": "completed",
        **extra,
    }
    status, _, answer = stack.request("POST", "/transactions", body, token=stack.token())
    assert status == 201, answer
    return tid


def refund(stack: RunningStack, tid: str, amount: int | None, key: str, **extra: Any) -> Any:
    body = {"transaction_id": tid, "reason": "requested_by_customer", **extra}
    if amount is not None:
        body["amount"] = amount
    return stack.request(
        "POST", "/refunds", body, token=stack.token(), headers={"Idempotency-Key": key}
    )


def test_demo_payments_are_loaded(stack: RunningStack) -> None:
    for tid in (
        "demo-usd-001",
        "demo-eur-001",
        "demo-jpy-001",
        "demo-kwd-001",
        "demo-pending-001",
        "demo-chargeback-001",
    ):
        status, _, body = stack.request(
            "GET", f"/transactions/{tid}/ledger", token=stack.token("refunds:read")
        )
        assert status == 200, (tid, body)
    status, _, body = stack.request(
        "GET", "/transactions/demo-pending-001/ledger", token=stack.token()
    )
    assert body["summary"]["status"] == "pending"


def test_every_route_over_http(stack: RunningStack) -> None:
    tid = new_payment(stack, tax_amount=1_000)
    status, headers, created = refund(stack, tid, 4_000, "route-1")
    assert status == 200 and created["refund_transaction_id"] == f"{tid}-REFUND"
    assert created["remaining_refundable"] == 6_000
    assert headers.get("X-Correlation-Id")
    status, headers, again = refund(stack, tid, 4_000, "route-1")
    assert (status, headers.get("Idempotent-Replayed"), again) == (200, "true", created)
    status, _, view = stack.request("GET", f"/refunds/{tid}-REFUND", token=stack.token())
    assert status == 200 and view["status"] == "success" and view["tax_amount"] == 400
    status, _, rolled = stack.request(
        "POST",
        f"/refunds/{tid}-REFUND/rollback",
        {"reason": "recorded in error"},
        token=stack.token(),
    )
    assert status == 200 and rolled["status"] == "rolled_back"
    status, _, ledger = stack.request("GET", f"/transactions/{tid}/ledger", token=stack.token())
    assert status == 200 and ledger["summary"]["refundable_amount"] == 10_000
    assert [e["type"] for e in ledger["entries"]][-2:] == ["REVERSAL", "REVERSAL"]
    status, _, trail = stack.request("GET", f"/transactions/{tid}/audit", token=stack.token())
    assert status == 200 and trail["chain"]["valid"] is True
    assert trail["chain"]["length"] == len(trail["records"])
    assert "local.user@example.com" not in str(trail)

    pending = f"it-pending-{uuid.uuid4().hex[:8]}"
    body = {"transaction_id": pending, "amount": 3_000, "currency": "EUR", "status": "pending"}
    assert stack.request("POST", "/transactions", body, token=stack.token())[0] == 201
    status, _, completed = stack.request(
        "POST", f"/transactions/{pending}/complete", token=stack.token()
    )
    assert status == 200 and completed["summary"]["status"] == "completed"
    status, _, disputed = stack.request(
        "POST",
        f"/transactions/{pending}/chargebacks",
        {"reason": "fraudulent"},
        token=stack.token(),
    )
    assert status == 201 and disputed["summary"]["status"] == "chargeback"
    status, _, conflict = refund(stack, pending, None, "route-cb")
    assert (status, conflict["error_code"]) == (409, "CHARGEBACK_CONFLICT"), conflict
    status, _, missing = stack.request("GET", "/refunds/nope-REFUND", token=stack.token())
    assert (status, missing["error_code"]) == (404, "REFUND_NOT_FOUND")


def test_pending_then_local_reconcile(stack: RunningStack) -> None:
    tid = new_payment(stack)
    status, _, answer = refund(stack, tid, 2_000, "slow-1", metadata={"simulate": "pending"})
    assert (status, answer["status"]) == (202, "pending")
    status, _, report = stack.request("POST", "/local/reconcile", token=stack.token())
    assert status == 200 and f"{tid}-REFUND" in report["pending_refunds"]["succeeded"]
    status, _, view = stack.request("GET", f"/refunds/{tid}-REFUND", token=stack.token())
    assert view["status"] == "success"


def foreign_token(**claims: Any) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "x",
        "scope": "refunds:read",
        "exp": now + 60,
        **claims,
    }
    return jwt.encode(payload, other, algorithm="RS256", headers={"kid": "local-1"})


def test_the_authorizer_checks_signature_issuer_audience_expiry_and_scope(
    stack: RunningStack,
) -> None:
    path = "/transactions/demo-usd-001/ledger"
    refused = {
        "no token": None,
        "not a jwt": "not-a-token",
        "foreign key": foreign_token(),
        "expired": stack.token(ttl_seconds=-10),
        "wrong audience": stack.token(aud="someone-else"),
        "wrong issuer": stack.token(iss="https://elsewhere.example/"),
    }
    for case, token in refused.items():
        status, _, body = stack.request("GET", path, token=token)
        assert (status, body.get("error_code")) == (401, "UNAUTHORIZED"), case
    status, _, body = stack.request("GET", path, token=stack.token("refunds:write"))
    assert (status, body["error_code"]) == (403, "FORBIDDEN")
    status, _, jwks = stack.request("GET", "/.well-known/jwks.json")
    assert status == 200 and jwks["keys"][0]["kty"] == "RSA"


def test_concurrent_refunds_through_the_server_never_over_refund(stack: RunningStack) -> None:
    tid = new_payment(stack, amount=10_000, tax_amount=1_300)
    barrier = threading.Barrier(16)

    def one(i: int) -> tuple[int, Any]:
        barrier.wait()
        status, _, body = refund(stack, tid, 1_000, f"race-{tid}-{i}")
        return status, body

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(16)))
    succeeded = [body for status, body in results if status == 200]
    refused = [body["error_code"] for status, body in results if status != 200]
    assert len(succeeded) == 10, results
    assert set(refused) <= {"ALREADY_REFUNDED", "AMOUNT_EXCEEDS_REFUNDABLE"}
    _, _, ledger = stack.request("GET", f"/transactions/{tid}/ledger", token=stack.token())
    summary = ledger["summary"]
    assert summary["refunded_amount"] == 10_000 and summary["tax_refunded_amount"] == 1_300
    _, _, trail = stack.request("GET", f"/transactions/{tid}/audit", token=stack.token())
    assert trail["chain"]["valid"] is True


def test_data_survives_a_restart(tmp_path: Any) -> None:
    first = start_stack(tmp_path, tmp_path / "stack.log")
    try:
        tid = new_payment(first, amount=2_500)
        assert refund(first, tid, 500, "restart-1")[0] == 200
    finally:
        stop_stack(first)
    assert first.process.returncode == 0  # Ctrl-C / SIGTERM stops cleanly
    second = start_stack(tmp_path, tmp_path / "stack.log")
    try:
        status, _, ledger = second.request(
            "GET", f"/transactions/{tid}/ledger", token=second.token()
        )
        assert status == 200 and ledger["summary"]["refunded_amount"] == 500
        status, headers, _ = refund(second, tid, 500, "restart-1")
        assert (status, headers.get("Idempotent-Replayed")) == (200, "true")
    finally:
        stop_stack(second)


def local_command(
    command: str, env_changes: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`python -m local <command>` as a user runs it, with its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "local", command],
        cwd=ROOT,
        env={**os.environ, **env_changes},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_walks_through_the_running_stack(stack: RunningStack) -> None:
    env = {"PORT": stack.base_url.rsplit(":", 1)[1], "LOCAL_DATA_DIR": str(stack.data_dir)}
    done = local_command("demo", env, timeout=120)
    assert done.returncode == 0, done.stderr
    for step in (
        "full refund",
        "partial refund 3 of 3",
        "Idempotent-Replayed: true",
        "CHARGEBACK_CONFLICT",
        "PROCESSOR_DECLINED",
        '"status": "pending"',
        "rolled_back",
        "audit chain valid: True",
        "the slow refund's own answer",
        '"status": "won"',
        "the events published for",
        "refund.succeeded",
        "refund.rolled_back",
    ):
        assert step in done.stdout, step


def run_expecting_failure(
    env_changes: dict[str, str], tmp_path: Any
) -> subprocess.CompletedProcess[str]:
    names = ("PORT", "DYNAMODB_PORT", "MOTO_PORT")
    ports = dict(zip(names, map(str, free_ports(len(names))), strict=True))
    env = {"LOCAL_DATA_DIR": str(tmp_path), **ports, **env_changes}
    return local_command("run", env, timeout=60)


def test_a_port_in_use_is_one_clear_line(tmp_path: Any) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_expecting_failure({"PORT": str(port)}, tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: Port {port} (the API) is already in use; stop what holds it or set another "
        "port (PORT, DYNAMODB_PORT, MOTO_PORT)."
    )
    assert "Traceback" not in done.stdout + done.stderr


def test_java_missing_is_one_clear_line(tmp_path: Any) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    done = run_expecting_failure({"PATH": str(bin_dir)}, tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: Java 17 or newer is needed for DynamoDB Local")
    assert "Traceback" not in done.stdout + done.stderr


def test_concurrent_callers_keep_their_own_requests(stack: RunningStack) -> None:
    # Given eight users, each refunding their own payment at the same moment
    payments = {f"user-{i}": new_payment(stack, amount=1_000) for i in range(8)}
    barrier = threading.Barrier(len(payments))

    def one(user: str) -> tuple[int, Any]:
        token = stack.token(subject=user)
        barrier.wait()
        body = {"transaction_id": payments[user], "amount": 100, "reason": "other"}
        status, _, answer = stack.request(
            "POST", "/refunds", body, token=token, headers={"Idempotency-Key": f"mine-{user}"}
        )
        return status, answer

    with ThreadPoolExecutor(max_workers=len(payments)) as pool:
        answers = dict(zip(payments, pool.map(one, payments), strict=True))
    # Then each answer is about the user's own payment, and the audit trail names the user
    for user, (status, answer) in answers.items():
        assert status == 200, answer
        assert answer["refund_transaction_id"] == f"{payments[user]}-REFUND"
        _, _, trail = stack.request(
            "GET", f"/transactions/{payments[user]}/audit", token=stack.token()
        )
        pending = [r for r in trail["records"] if r["action"] == "REFUND_PENDING"]
        assert [r["initiator"]["id"] for r in pending] == [user]
