"""`make fuzz` in miniature: schemathesis on the stack's own OpenAPI document, valid requests."""

from __future__ import annotations

import re
import tomllib

from refund_service.api.auth import ROUTE_SCOPES
from tests.bench.fuzz import (
    HOSTILE_BODIES,
    SMOKE_CHECKS,
    SeededData,
    config_text,
    hostile_failures,
    run_schemathesis,
    seed_data,
    verdict_of,
)
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
    verdict = verdict_of(run.output)
    assert verdict.cases > 0 and verdict.exit_status == 0, verdict.describe()


def test_seeded_ids_and_links_reach_real_data(perf_stack: BenchStack) -> None:
    # Given payments, refunds and chargebacks recorded before the run, their ids always drawn
    data = seed_data(perf_stack)
    run = run_schemathesis(
        perf_stack,
        max_time=30,
        max_examples=3,
        mode="positive",
        checks=SMOKE_CHECKS,
        phases="fuzzing,stateful",
        data=data,
        seeded_probability=1.0,
    )
    # Then no operation answered only 404s, and the stateful phase followed the links
    assert run.returncode == 0, run.output[-4000:]
    assert "Missing test data" not in run.output, run.output[-4000:]
    covered = re.search(r"API Links:\s+(\d+) covered", run.output)
    assert covered is not None and int(covered.group(1)) > 0, run.output[-4000:]


def test_the_summary_tells_tool_errors_from_service_failures() -> None:
    tool_crash = "\n".join(
        [
            "=== SUMMARY ===",
            "Errors:",
            "  🚫 Runtime Error: 3",
            "",
            "Test cases:",
            "  3349 generated, 3349 passed",
        ]
    )
    verdict = verdict_of(tool_crash)
    assert (verdict.cases, verdict.service_failures) == (3349, {})
    assert verdict.tool_errors == {"Runtime Error": 3}
    assert verdict.exit_status == 2
    service_fault = "\n".join(
        [
            "=== SUMMARY ===",
            "Failures:",
            "  ❌ Server error: 2",
            "Errors:",
            "  🚫 Network Error: 1",
            "  🚫 Runtime Error: 1",
        ]
    )
    verdict = verdict_of(service_fault)
    assert verdict.service_failures == {"Server error": 2, "Network Error": 1}
    assert verdict.tool_errors == {"Runtime Error": 1}
    assert verdict.exit_status == 1


def test_the_seeded_ids_are_bound_to_the_path_parameters() -> None:
    config = tomllib.loads(config_text(SeededData(["t1", "t2"], ["t1-REFUND"], ["cb-1"])))
    assert config["dictionaries"]["refunds"]["values"] == ["t1-REFUND"]
    bound = config["parameters"]
    assert bound["path.transaction_id"] == {"dictionary": "transactions", "probability": 0.5}
    assert bound["path.refund_id"]["dictionary"] == "refunds"
    assert bound["path.chargeback_id"]["dictionary"] == "chargebacks"
    operations = {operation["include-name"]: operation for operation in config["operations"]}
    refunds = operations["POST /refunds"]["parameters"]
    assert refunds["body.transaction_id"]["dictionary"] == "transactions"
    payments = operations["POST /transactions"]["parameters"]
    assert payments["body.currency"]["dictionary"] == "currencies"


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
