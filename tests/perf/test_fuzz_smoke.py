"""`make fuzz` in miniature: schemathesis on the stack's own OpenAPI document, valid requests."""

from __future__ import annotations

from refund_service.api.auth import ROUTE_SCOPES
from tests.bench.fuzz import HOSTILE_BODIES, SMOKE_CHECKS, hostile_failures, run_schemathesis
from tests.bench.stack import BenchStack

OPERATIONS = len(ROUTE_SCOPES)  # every documented operation has a scope entry


def test_valid_requests_get_documented_answers_and_no_server_error(perf_stack: BenchStack) -> None:
    run = run_schemathesis(
        perf_stack,
        max_time=10,
        max_examples=3,
        mode="positive",
        checks=SMOKE_CHECKS,
        phases="examples,fuzzing",
        seed=8,
        workers=1,
    )
    assert run.returncode == 0, run.output[-4000:]
    selected = f"{OPERATIONS} selected / {OPERATIONS} total"
    assert selected in run.output, run.output[-4000:]


def test_a_body_that_is_not_utf8_is_refused_as_invalid(perf_stack: BenchStack) -> None:
    status, _, answer = perf_stack.request(
        "POST", "/transactions", raw=b'{"transaction_id": "\xff\xfe"}', token=perf_stack.token()
    )
    assert (status, answer.get("error_code")) == (400, "VALIDATION_ERROR"), (status, answer)


def test_hostile_methods_and_bodies_get_no_server_error_and_the_envelope(
    perf_stack: BenchStack,
) -> None:
    sent, failures = hostile_failures(perf_stack)
    assert failures == []
    # every operation, with and without a token: 2 method spellings and every hostile body
    assert sent == OPERATIONS * 2 * (2 + len(HOSTILE_BODIES))
