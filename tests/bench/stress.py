"""`make stress`: mixed concurrent traffic against the local stack, then the ledger is checked.

16 clients (each its own user) send 2,000 requests between them: refunds and partial refunds
(some declined, some left pending by a lost or pending processor answer, some kept waiting by a
slow processor), the same request again under its key, a key reused with another body,
rollbacks, disputes and their resolution (won or lost), and reads of ledgers, refunds and audit
trails, while both reconciliations run in a loop beside them. Then the reconcilers settle what
is pending and the ledger is verified with the service's own `verify_all` straight on the
stack's DynamoDB Local, plus what the clients were told: no acknowledged refund lost, no
over-refund, every summary the fold of its entries, every audit chain intact. Last, the
processor's payouts per refund (the simulated processor's own record) are set against the
ledger's succeeded refunds: they must be equal, refunds the run itself rolled back aside.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from refund_service.adapters.dynamodb.ledger_store import DynamoDBLedgerStore
from refund_service.adapters.processors.simulated import DynamoDBSimulatorMemory
from refund_service.domain.refund import RefundStatus
from refund_service.service.queries import verify_all
from tests.bench.client import Client, percentile, run_clients
from tests.bench.stack import BenchStack, bench_stack

# kind -> weight (per cent)
MIX = {
    "refund": 28,
    "refund_full": 4,
    "refund_simulated": 8,
    "repeat": 14,
    "reuse_key": 3,
    "rollback": 5,
    "dispute": 2,
    "resolve": 4,  # more than disputes: an open dispute blocks its payment's refunds
    "read_ledger": 10,
    "read_refund": 10,
    "read_audit": 12,
}
SIMULATED = ("decline", "timeout", "pending", "insufficient_funds", "slow")
SLOW_MS = 1_500  # a slow processor's decision time: reconciliation runs meanwhile
WON_SHARE = 0.8  # disputes resolved as won; the rest are lost for good
RECONCILE_EVERY = 1.0  # seconds between runs of the reconcile loop
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
    reconcile_runs: int = 0

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
        self,
        index: int,
        stack: BenchStack,
        payments: list[str],
        shared: Shared,
        seed: int,
        mix: dict[str, int] = MIX,
    ):
        self.rng = random.Random(seed * 1_000 + index)
        self.mix = mix
        token = stack.token(subject=f"stress-user-{index}")
        self.http = Client(stack.base_url, token)
        self.payments = payments
        self.shared = shared
        self.sent: list[Sent] = []
        self.refunds: list[str] = []  # refund ids this client was told succeeded
        self.disputes: list[tuple[str, str]] = []  # (payment, chargeback id) still open

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
        kinds, weights = zip(*self.mix.items(), strict=True)
        kind = self.rng.choices(kinds, weights)[0]
        if kind in ("repeat", "reuse_key") and not self.sent:
            kind = "refund"
        if kind in ("rollback", "read_refund") and not self.refunds:
            kind = "read_ledger"
        if kind == "resolve" and not self.disputes:
            kind = "dispute"
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
        simulate = self.rng.choice(SIMULATED)
        metadata: dict[str, Any] = (
            {"simulate_delay_ms": SLOW_MS} if simulate == "slow" else {"simulate": simulate}
        )
        body = {
            "transaction_id": self.rng.choice(self.payments),
            "amount": self.rng.randint(1, 1_000),
            "reason": "other",
            "metadata": metadata,
        }
        self._refund("refund_simulated", body)

    def dispute(self) -> None:
        transaction_id = self.rng.choice(self.payments)
        chargeback_id = f"cb-{uuid.uuid4().hex[:12]}"
        body = {"chargeback_id": chargeback_id, "reason": "fraudulent"}
        status, _, answer = self._call(
            "dispute", "POST", f"/transactions/{transaction_id}/chargebacks", body
        )
        if status == 201:
            self.disputes.append((transaction_id, chargeback_id))
            again = self.http.call("POST", f"/transactions/{transaction_id}/chargebacks", body)
            if again[0] != 201 or again[2]["chargeback"] != answer["chargeback"]:
                self.shared.problem(f"chargeback {chargeback_id} again: {again[0]} {again[2]}")

    def resolve(self) -> None:
        transaction_id, chargeback_id = self.disputes.pop(self.rng.randrange(len(self.disputes)))
        outcome = "won" if self.rng.random() < WON_SHARE else "lost"
        path = f"/transactions/{transaction_id}/chargebacks/{chargeback_id}/resolve"
        status, _, answer = self._call("resolve", "POST", path, {"outcome": outcome})
        if status == 200 and answer["chargeback"]["status"] == outcome:
            return
        if status >= 500 and _code(answer) in DOCUMENTED_5XX:
            self.disputes.append((transaction_id, chargeback_id))  # retried later
            return
        self.shared.problem(f"resolve {chargeback_id} {outcome}: {status} {answer}")

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
    payouts: dict[str, int] = field(default_factory=dict)  # the processor's, per refund
    ledger_succeeded: dict[str, int] = field(default_factory=dict)
    rolled_back_after_payout: dict[str, int] = field(default_factory=dict)

    @property
    def payouts_agree(self) -> bool:
        """The processor paid exactly the ledger's succeeded refunds, and the rolled-back ones
        the run itself rolled back after they were paid."""
        return self.payouts == {**self.ledger_succeeded, **self.rolled_back_after_payout}


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
            f"reconcile loop: {self.shared.reconcile_runs} runs beside the load; "
            f"afterwards: {v.reconciled}",
            f"verify_all: {v.transactions_checked} transactions, {v.verify_failures} failures "
            "(summary = fold of entries, balanced journals, audit chain, invariants)",
            f"refunds in the ledger: {v.refunds_in_ledger}; acknowledged to clients: "
            f"{v.acknowledged}; still pending: {v.still_pending}",
            f"processor stand-in: {v.processor_records} refunds decided, "
            f"{v.paid_twice} paid more than once",
            f"processor payouts: {len(v.payouts)} refunds, {sum(v.payouts.values())} in all; "
            f"ledger succeeded: {len(v.ledger_succeeded)} refunds, "
            f"{sum(v.ledger_succeeded.values())} in all; rolled back by the run after payout: "
            f"{len(v.rolled_back_after_payout)}; " + ("equal" if v.payouts_agree else "NOT EQUAL"),
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


def _counted(report: Any) -> Any:
    """A reconcile report with its lists of ids shown as their lengths."""
    if isinstance(report, dict):
        return {k: _counted(v) for k, v in report.items()}
    return len(report) if isinstance(report, list) else report


def reconcile_once(client: Client) -> tuple[int, Any]:
    status, _, answer = client.call("POST", "/local/reconcile")
    return status, answer


@contextlib.contextmanager
def reconcile_loop(stack: BenchStack, shared: Shared) -> Iterator[None]:
    """Both reconciliations, over and over, beside the load."""
    stopping = threading.Event()
    client = Client(stack.base_url, stack.token())

    def loop() -> None:
        while not stopping.wait(RECONCILE_EVERY):
            status, answer = reconcile_once(client)
            with shared.lock:
                shared.reconcile_runs += 1
            if status != 200:
                shared.problem(f"POST /local/reconcile during the load: {status} {answer}")

    thread = threading.Thread(target=loop, name="reconcile-loop", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join(timeout=120)
        client.close()


def verify(
    stack: BenchStack, payments: list[str], shared: Shared, started: datetime
) -> Verification:
    result = Verification()
    status, reconciled = reconcile_once(Client(stack.base_url, stack.token()))
    result.reconciled = _counted(reconciled) if status == 200 else {"status": status}
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
    _compare_payouts(result, client, store, payments, shared.rolled_back, started)
    return result


def _compare_payouts(
    result: Verification,
    client: Any,
    store: DynamoDBLedgerStore,
    payments: list[str],
    rolled_back: set[str],
    started: datetime,
) -> None:
    """The processor's payouts per refund, from its own memory, against the ledger."""
    memory = DynamoDBSimulatorMemory(client, "RefundIdempotency")
    ours = set(payments)
    decided = [
        r
        for r in memory.decided_between(started - timedelta(minutes=5), datetime.now(UTC))
        if r.transaction_id in ours
    ]
    result.processor_records = len(decided)
    for record in decided:
        if record.payments > 1:
            result.paid_twice += 1
            result.ledger_failures.append(f"processor paid {record.refund_id} {record.payments}x")
        if record.payments:
            result.payouts[record.refund_id] = record.amount
    for transaction_id in payments:
        for refund in store.load(transaction_id).refunds.values():
            if refund.status is RefundStatus.SUCCESS:
                result.ledger_succeeded[refund.refund_id] = refund.amount
            elif refund.refund_id in rolled_back and refund.refund_id in result.payouts:
                result.rolled_back_after_payout[refund.refund_id] = refund.amount
    if not result.payouts_agree:
        expected = {**result.ledger_succeeded, **result.rolled_back_after_payout}
        for refund_id in sorted(set(result.payouts) | set(expected)):
            paid, booked = result.payouts.get(refund_id), expected.get(refund_id)
            if paid != booked:
                result.ledger_failures.append(
                    f"{refund_id}: the processor paid {paid}, the ledger says {booked}"
                )


def run_stress(
    stack: BenchStack,
    *,
    requests: int = 2_000,
    clients: int = 16,
    payments: int = 40,
    seed: int = 8,
    time_limit: float = 600.0,
    mix: dict[str, int] = MIX,
) -> StressReport:
    started = datetime.now(UTC)
    ids = create_payments(stack, payments)
    shared = Shared()
    workers = [StressClient(i, stack, ids, shared, seed, mix) for i in range(clients)]
    per_client = [requests // clients + (i < requests % clients) for i in range(clients)]
    work = [[w.step] * n for w, n in zip(workers, per_client, strict=True)]
    with reconcile_loop(stack, shared):
        load = run_clients(work, time_limit)
    for label, count in load.outcomes.items():
        if label != "ok":
            shared.problem(f"{count} requests raised {label}")
    for worker in workers:
        worker.http.close()
    verification = verify(stack, ids, shared, started)
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
