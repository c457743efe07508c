"""`make stress`: mixed concurrent traffic against the local stack, then the ledger is checked.

16 clients (each its own user) send 2,000 requests between them: refunds and partial refunds
(some declined, some left pending by a lost or pending processor answer), the same request
again under its key, a key reused with another body, rollbacks, and reads of ledgers, refunds
and audit trails. Then the reconciler settles what is pending and the ledger is verified with
the service's own `verify_all` straight on the stack's DynamoDB Local, plus what the clients
were told: no acknowledged refund lost, no over-refund, every summary the fold of its entries,
every audit chain intact, no refund paid twice by the processor.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from refund_service.adapters.dynamodb.ledger_store import DynamoDBLedgerStore
from refund_service.domain.refund import RefundStatus
from refund_service.service.queries import verify_all
from tests.bench.client import Client, percentile, run_clients
from tests.bench.stack import BenchStack, bench_stack

# kind -> weight (per cent)
MIX = {
    "refund": 30,
    "refund_full": 4,
    "refund_simulated": 8,
    "repeat": 14,
    "reuse_key": 3,
    "rollback": 6,
    "read_ledger": 13,
    "read_refund": 10,
    "read_audit": 12,
}
SIMULATED = ("decline", "timeout", "pending", "insufficient_funds")
# 5xx the API documents as retryable answers rather than failures.
DOCUMENTED_5XX = {"PROCESSOR_UNAVAILABLE", "LEDGER_CONTENTION"}
# Answers stored under the idempotency key, so the same request again must replay them.
REPLAYED_STATUSES = {200, 202, 404, 422}


@dataclass
class Sent:
    key: str
    body: dict[str, Any]
    status: int
    answer: Any


@dataclass
class Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    problems: list[str] = field(default_factory=list)
    # GET .../audit answers that said the chain is broken while writes were in flight
    invalid_chain_reads: list[str] = field(default_factory=list)
    acknowledged: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    rolled_back: set[str] = field(default_factory=set)

    def record(self, kind: str, status: int, code: str | None, ms: float) -> None:
        with self.lock:
            self.latencies[kind].append(ms)
            self.statuses[kind][f"{status}" + (f" {code}" if code else "")] += 1

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


def _code(answer: Any) -> str | None:
    return answer.get("error_code") if isinstance(answer, dict) else None


class StressClient:
    def __init__(
        self, index: int, stack: BenchStack, payments: list[str], shared: Shared, seed: int
    ):
        self.rng = random.Random(seed * 1_000 + index)
        token = stack.token(subject=f"stress-user-{index}")
        self.http = Client(stack.base_url, token)
        self.payments = payments
        self.shared = shared
        self.sent: list[Sent] = []
        self.refunds: list[str] = []  # refund ids this client was told succeeded

    def _call(
        self, kind: str, method: str, path: str, body: Any = None, headers: Any = None
    ) -> tuple[int, dict[str, str], Any]:
        started = time.perf_counter()
        status, answer_headers, answer = self.http.call(method, path, body, headers)
        self.shared.record(kind, status, _code(answer), (time.perf_counter() - started) * 1000)
        if status >= 500 and _code(answer) not in DOCUMENTED_5XX:
            self.shared.problem(f"{kind} {method} {path}: {status} {answer}")
        return status, answer_headers, answer

    def step(self) -> str:
        kinds, weights = zip(*MIX.items(), strict=True)
        kind = self.rng.choices(kinds, weights)[0]
        if kind in ("repeat", "reuse_key") and not self.sent:
            kind = "refund"
        if kind in ("rollback", "read_refund") and not self.refunds:
            kind = "read_ledger"
        getattr(self, kind)()
        return "ok"

    def _refund(self, kind: str, body: dict[str, Any]) -> None:
        key = f"stress-{uuid.uuid4()}"
        status, _, answer = self._call(kind, "POST", "/refunds", body, {"Idempotency-Key": key})
        self.sent.append(Sent(key, body, status, answer))
        if status in (200, 202) and isinstance(answer, dict):
            refund_id = answer["refund_transaction_id"]
            with self.shared.lock:
                self.shared.acknowledged[body["transaction_id"]].add(refund_id)
            if status == 200:
                self.refunds.append(refund_id)

    def refund(self) -> None:
        amount = self.rng.randint(1, 2_500)
        body = {
            "transaction_id": self.rng.choice(self.payments),
            "amount": amount,
            "reason": "requested_by_customer",
        }
        self._refund("refund", body)

    def refund_full(self) -> None:
        self._refund(
            "refund_full", {"transaction_id": self.rng.choice(self.payments), "reason": "duplicate"}
        )

    def refund_simulated(self) -> None:
        body = {
            "transaction_id": self.rng.choice(self.payments),
            "amount": self.rng.randint(1, 1_000),
            "reason": "other",
            "metadata": {"simulate": self.rng.choice(SIMULATED)},
        }
        self._refund("refund_simulated", body)

    def repeat(self) -> None:
        first = self.rng.choice(self.sent)
        status, headers, answer = self._call(
            "repeat", "POST", "/refunds", first.body, {"Idempotency-Key": first.key}
        )
        if first.status not in REPLAYED_STATUSES or (
            first.status == 422 and _code(first.answer) == "IDEMPOTENCY_KEY_REUSED"
        ):
            return  # not stored (contention, in progress, payment pending): a retry runs again
        same = status == first.status and answer == first.answer
        if not same or headers.get("idempotent-replayed") != "true":
            self.shared.problem(
                f"replay of {first.key}: first {first.status} {first.answer}, again {status} "
                f"{answer} (replayed header {headers.get('idempotent-replayed')})"
            )

    def reuse_key(self) -> None:
        first = self.rng.choice(self.sent)
        body = {**first.body, "amount": int(first.body.get("amount") or 1) + 1}
        status, _, answer = self._call(
            "reuse_key", "POST", "/refunds", body, {"Idempotency-Key": first.key}
        )
        if first.status in REPLAYED_STATUSES and (status, _code(answer)) != (
            422,
            "IDEMPOTENCY_KEY_REUSED",
        ):
            self.shared.problem(
                f"key {first.key} reused with another body answered {status} {answer}"
            )

    def rollback(self) -> None:
        refund_id = self.rng.choice(self.refunds)
        path = f"/refunds/{refund_id}/rollback"
        status, _, _ = self._call("rollback", "POST", path, {"reason": "recorded in error"})
        if status == 200:
            with self.shared.lock:
                self.shared.rolled_back.add(refund_id)
            self.refunds.remove(refund_id)

    def read_ledger(self) -> None:
        transaction_id = self.rng.choice(self.payments)
        status, _, answer = self._call(
            "read_ledger", "GET", f"/transactions/{transaction_id}/ledger"
        )
        if status == 200:
            s = answer["summary"]
            if s["refunded_amount"] + s["pending_refund_amount"] > s["captured_amount"]:
                self.shared.problem(f"over-refund seen on {transaction_id}: {s}")

    def read_refund(self) -> None:
        self._call("read_refund", "GET", f"/refunds/{self.rng.choice(self.refunds)}")

    def read_audit(self) -> None:
        transaction_id = self.rng.choice(self.payments)
        status, _, answer = self._call("read_audit", "GET", f"/transactions/{transaction_id}/audit")
        if status == 200 and not answer["chain"]["valid"]:
            with self.shared.lock:
                self.shared.invalid_chain_reads.append(f"{transaction_id}: {answer['chain']}")


@dataclass
class Verification:
    transactions_checked: int = 0
    verify_failures: int = 0
    ledger_failures: list[str] = field(default_factory=list)
    refunds_in_ledger: int = 0
    acknowledged: int = 0
    still_pending: int = 0
    paid_twice: int = 0
    processor_records: int = 0
    reconciled: dict[str, Any] = field(default_factory=dict)


@dataclass
class StressReport:
    requests: int
    clients: int
    payments: int
    seconds: float
    shared: Shared
    verification: Verification

    @property
    def problems(self) -> list[str]:
        return [*self.shared.problems, *self.verification.ledger_failures]

    @property
    def findings(self) -> list[str]:
        """Wrong answers that leave the ledger intact: every chain verifies at rest afterwards."""
        return [f"GET audit said the chain is broken: {r}" for r in self.shared.invalid_chain_reads]

    def render(self) -> str:
        rows = ["| kind | requests | answers | p50 ms | p99 ms |", "|---|---:|---|---:|---:|"]
        for kind in MIX:
            latencies = self.shared.latencies.get(kind, [])
            if not latencies:
                continue
            answers = ", ".join(f"{k}: {v}" for k, v in sorted(self.shared.statuses[kind].items()))
            rows.append(
                f"| {kind} | {len(latencies)} | {answers} | {statistics.median(latencies):.0f} "
                f"| {percentile(latencies, 0.99):.0f} |"
            )
        v = self.verification
        sent = sum(len(x) for x in self.shared.latencies.values())
        rows += [
            "",
            f"{sent} requests from {self.clients} clients on {self.payments} payments "
            f"in {self.seconds:.1f} s ({sent / self.seconds:.1f} req/s)",
            f"reconciler afterwards: {v.reconciled}",
            f"verify_all: {v.transactions_checked} transactions, {v.verify_failures} failures "
            "(summary = fold of entries, balanced journals, audit chain, invariants)",
            f"refunds in the ledger: {v.refunds_in_ledger}; acknowledged to clients: "
            f"{v.acknowledged}; still pending: {v.still_pending}",
            f"processor stand-in: {v.processor_records} refunds asked, "
            f"{v.paid_twice} paid more than once",
            f"problems: {len(self.problems)}",
        ]
        rows += [f"  - {p}" for p in self.problems[:20]]
        if self.findings:
            rows.append(
                f"GET /transactions/{{id}}/audit answered chain.valid=false {len(self.findings)} "
                "times while refunds were being written, though every chain verifies at rest:"
            )
            rows += [f"  - {f}" for f in self.findings[:10]]
        return "\n".join(rows)


def create_payments(stack: BenchStack, count: int) -> list[str]:
    client = Client(stack.base_url, stack.token("ledger:write"))
    ids = []
    currencies = ("USD", "JPY", "KWD", "EUR")
    for n in range(count):
        transaction_id = f"stress-{uuid.uuid4().hex[:10]}"
        amount = 20_000 + 1_000 * (n % 7)
        currency = currencies[n % len(currencies)]
        client.record_payment(transaction_id, amount, currency, amount // 11, amount // 40)
        ids.append(transaction_id)
    client.close()
    return ids


def verify(stack: BenchStack, payments: list[str], shared: Shared) -> Verification:
    result = Verification()
    status, _, reconciled = Client(stack.base_url, stack.token()).call("POST", "/local/reconcile")
    result.reconciled = (
        {k: len(v) if isinstance(v, list) else v for k, v in reconciled.items()}
        if status == 200
        else {"status": status}
    )
    client = stack.client("dynamodb")
    store = DynamoDBLedgerStore(client, "PaymentLedger", "PaymentAuditTrail")
    report = verify_all(store)
    result.transactions_checked = report.checked
    result.verify_failures = len(report.failures)
    for failure in report.failures:
        result.ledger_failures.append(
            f"verify {failure.transaction_id}: mismatch {failure.mismatch}, "
            f"chain {failure.chain}, {failure.problems}"
        )
    for transaction_id in payments:
        state = store.load(transaction_id)
        summary = state.summary
        refunds = state.refunds
        result.refunds_in_ledger += len(refunds)
        acknowledged = shared.acknowledged.get(transaction_id, set())
        result.acknowledged += len(acknowledged)
        for lost in sorted(acknowledged - set(refunds)):
            result.ledger_failures.append(
                f"{transaction_id}: acknowledged refund {lost} is not in the ledger"
            )
        pending = [r.refund_id for r in refunds.values() if r.status is RefundStatus.PENDING]
        result.still_pending += len(pending)
        succeeded = sum(r.amount for r in refunds.values() if r.status is RefundStatus.SUCCESS)
        if succeeded != summary.refunded_amount:
            result.ledger_failures.append(
                f"{transaction_id}: refunds that succeeded add up to {succeeded}, "
                f"the summary says {summary.refunded_amount}"
            )
        if summary.refunded_amount + summary.pending_refund_amount > summary.captured_amount:
            result.ledger_failures.append(f"{transaction_id}: over-refunded {summary}")
        audited = {r.refund_id for r in store.audit_records(transaction_id) if r.refund_id}
        for missing in sorted(set(refunds) - audited):
            result.ledger_failures.append(f"{transaction_id}: refund {missing} has no audit record")
        for refund_id in shared.rolled_back & set(refunds):
            if refunds[refund_id].status is not RefundStatus.ROLLED_BACK:
                result.ledger_failures.append(
                    f"{refund_id} was rolled back but is {refunds[refund_id].status}"
                )
    page: dict[str, Any] = {
        "TableName": "RefundIdempotency",
        "FilterExpression": "begins_with(id, :p)",
        "ExpressionAttributeValues": {":p": {"S": "simulated-processor#"}},
    }
    while True:
        answer = client.scan(**page)
        for item in answer["Items"]:
            result.processor_records += 1
            if int(item["payments"]["N"]) > 1:
                result.paid_twice += 1
                result.ledger_failures.append(
                    f"processor paid {item['id']['S']} {item['payments']['N']} times"
                )
        if "LastEvaluatedKey" not in answer:
            break
        page["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    return result


def run_stress(
    stack: BenchStack,
    *,
    requests: int = 2_000,
    clients: int = 16,
    payments: int = 40,
    seed: int = 8,
    time_limit: float = 600.0,
) -> StressReport:
    ids = create_payments(stack, payments)
    shared = Shared()
    workers = [StressClient(i, stack, ids, shared, seed) for i in range(clients)]
    per_client = [requests // clients + (i < requests % clients) for i in range(clients)]
    work = [[w.step] * n for w, n in zip(workers, per_client, strict=True)]
    load = run_clients(work, time_limit)
    for label, count in load.outcomes.items():
        if label != "ok":
            shared.problem(f"{count} requests raised {label}")
    for worker in workers:
        worker.http.close()
    verification = verify(stack, ids, shared)
    return StressReport(load.done, clients, payments, load.seconds, shared, verification)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.stress", description=__doc__)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--payments", type=int, default=40)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds (bound)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    print("starting the local stack on free loopback ports...", flush=True)
    with bench_stack() as stack:
        report = run_stress(
            stack,
            requests=args.requests,
            clients=args.clients,
            payments=args.payments,
            seed=args.seed,
            time_limit=args.time_limit,
        )
    print(report.render())
    print(f"stress finished in {time.monotonic() - started:.0f} s")
    return 1 if report.problems or report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
