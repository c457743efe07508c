"""`make demo`: a narrated walk through the running local stack, request by request."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from local import auth
from local.config import LocalConfig


class Client:
    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.token = token

    def send(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the local stack on loopback
            self.base_url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, dict(response.headers), json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read() or b"{}")


def _show(
    step: str,
    method: str,
    path: str,
    body: Any,
    answer: tuple[int, dict[str, str], Any],
    headers: dict[str, str] | None = None,
) -> Any:
    status, response_headers, payload = answer
    print(f"\n== {step}")
    extra = "".join(f" [{k}: {v}]" for k, v in (headers or {}).items())
    print(f"-> {method} {path}{extra}" + (f" {json.dumps(body)}" if body is not None else ""))
    replayed = response_headers.get("Idempotent-Replayed")
    print(f"<- {status}" + (f" (Idempotent-Replayed: {replayed})" if replayed else ""))
    shown = payload
    if isinstance(payload, dict) and "chargeback" in payload:  # the dispute, then the summary
        shown = {k: payload[k] for k in ("chargeback", "summary")}
    print(json.dumps(shown, indent=2)[:1500])
    return payload


def walk_through(config: LocalConfig) -> int:
    key = auth.signing_key(config.key_file)
    client = Client(config.base_url, auth.mint(key, subject="demo-operator"))
    run = uuid.uuid4().hex[:6]

    def call(step: str, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else None
        return _show(step, method, path, body, client.send(method, path, body, headers), headers)

    def payment(tid: str, amount: int, **extra: Any) -> None:
        body = {
            "transaction_id": tid,
            "amount": amount,
            "currency": "USD",
            "status": "completed",
            **extra,
        }
        call(f"record payment {tid}", "POST", "/transactions", body)

    full, partial, declined, slow, disputed, delayed = (
        f"demo-{name}-{run}"
        for name in ("full", "partial", "decline", "timeout", "dispute", "delay")
    )
    payment(full, 5_000, tax_amount=500)
    call(
        "full refund",
        "POST",
        "/refunds",
        {"transaction_id": full, "reason": "requested_by_customer"},
        f"{run}-full",
    )
    payment(partial, 9_000, tax_amount=1_500)
    for n, amount in enumerate((3_000, 3_000, 3_000), start=1):
        call(
            f"partial refund {n} of 3",
            "POST",
            "/refunds",
            {"transaction_id": partial, "amount": amount, "reason": "other"},
            f"{run}-p{n}",
        )
    call(
        "the same request again, same key: the stored answer, replayed",
        "POST",
        "/refunds",
        {"transaction_id": partial, "amount": 3_000, "reason": "other"},
        f"{run}-p3",
    )
    call(
        "a payment with a chargeback cannot be refunded",
        "POST",
        "/refunds",
        {"transaction_id": "demo-chargeback-001", "reason": "duplicate"},
        f"{run}-cb",
    )
    payment(declined, 2_000)
    call(
        "the processor declines",
        "POST",
        "/refunds",
        {"transaction_id": declined, "reason": "other", "metadata": {"simulate": "decline"}},
        f"{run}-decline",
    )
    payment(slow, 4_000)
    call(
        "the processor's answer is lost: the refund stays pending",
        "POST",
        "/refunds",
        {"transaction_id": slow, "reason": "other", "metadata": {"simulate": "timeout"}},
        f"{run}-timeout",
    )
    call(
        "both reconciliations: the pending refund is asked after (unless the processor's "
        "signed webhook settled it first), then the processor's payouts are checked",
        "POST",
        "/local/reconcile",
    )
    call("the refund is now settled", "GET", f"/refunds/{slow}-REFUND")
    payment(delayed, 3_000)
    _race_reconcile(client, delayed, run)
    payment(disputed, 6_000)
    dispute = {"chargeback_id": f"cb-{run}", "reason": "fraudulent"}
    call(
        "a dispute opens: booked in full", "POST", f"/transactions/{disputed}/chargebacks", dispute
    )
    call(
        "while it stands nothing is refundable",
        "POST",
        "/refunds",
        {"transaction_id": disputed, "amount": 1_000, "reason": "other"},
        f"{run}-disputed",
    )
    call(
        "the dispute is won: CHARGEBACK_REVERSAL, refundable again",
        "POST",
        f"/transactions/{disputed}/chargebacks/cb-{run}/resolve",
        {"outcome": "won"},
    )
    call(
        "the refund goes through now",
        "POST",
        "/refunds",
        {"transaction_id": disputed, "amount": 1_000, "reason": "other"},
        f"{run}-after-dispute",
    )
    call(
        "roll back the first refund",
        "POST",
        f"/refunds/{full}-REFUND/rollback",
        {"reason": "recorded in error"},
    )
    call("the ledger: nothing changed, reversals appended", "GET", f"/transactions/{full}/ledger")
    trail = call("the audit trail, its hash chain verified", "GET", f"/transactions/{full}/audit")
    print(
        f"\naudit chain valid: {trail.get('chain', {}).get('valid')}; "
        f"{trail.get('chain', {}).get('length')} records"
    )
    _show_events(client, full)
    return 0


def _all_events(client: Client) -> list[dict[str, Any]]:
    """Every event so far, page by page (`after` the last one seen)."""
    events: list[dict[str, Any]] = []
    while True:
        after = f"?after={events[-1]['event_id']}" if events else ""
        _, _, answer = client.send("GET", f"/local/events{after}")
        page = answer.get("events", []) if isinstance(answer, dict) else []
        if not page:
            return events
        events += page


def _show_events(client: Client, transaction_id: str) -> None:
    """What downstream systems heard of the first payment, from the change stream (SPEC 4.2):
    read a moment after the ledger changed, as the stream reader publishes every half second."""
    wanted = {"payment.recorded", "refund.succeeded", "refund.rolled_back"}
    mine: list[dict[str, Any]] = []
    for _ in range(20):
        mine = [
            e for e in _all_events(client) if e["detail"].get("transaction_id") == transaction_id
        ]
        if wanted <= {e["detail_type"] for e in mine}:
            break
        time.sleep(0.5)
    print(f"\n== the events published for {transaction_id} (GET /local/events), in ledger order")
    for published in mine:
        detail = published["detail"]
        print(
            f"   {published['detail_type']:<20} refund {detail.get('refund_id')}: "
            f"{detail.get('amount')} {detail.get('currency')} ({detail.get('status')})"
        )


def _race_reconcile(client: Client, transaction_id: str, run: str) -> None:
    """A slow processor (3 s) while both reconciliations run: the refund is left alone and
    ends paid once."""
    body = {
        "transaction_id": transaction_id,
        "amount": 1_200,
        "reason": "other",
        "metadata": {"simulate_delay_ms": 3_000},
    }
    headers = {"Idempotency-Key": f"{run}-delay"}
    answers: list[tuple[int, dict[str, str], Any]] = []
    slow = threading.Thread(
        target=lambda: answers.append(client.send("POST", "/refunds", body, headers))
    )
    print("\n== a slow processor: the refund request waits 3 s for its decision ...")
    slow.start()
    time.sleep(1)
    _show(
        "... while both reconciliations run: the refund is not at the processor yet, and "
        "stays pending (its send deadline has not passed)",
        "POST",
        "/local/reconcile",
        None,
        client.send("POST", "/local/reconcile"),
    )
    slow.join(timeout=30)
    if answers:
        _show("the slow refund's own answer", "POST", "/refunds", body, answers[0], headers)
