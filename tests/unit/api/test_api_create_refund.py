"""POST /refunds through the handler: every answer of SPEC section 4, field for field."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from refund_service.domain.ledger import PaymentStatus
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRequest,
    ProcessorUnavailableError,
    normalized,
)
from refund_service.service.ports import ConcurrentUpdateError
from tests.unit.api.conftest import Answer, Api, new_key, sender

SUCCESS_FIELDS = {
    "message",
    "refund_transaction_id",
    "status",
    "processor_message",
    "amount",
    "currency",
    "remaining_refundable",
}
ERROR_FIELDS = {"message", "status", "error_code", "details"}


def refused(answer: Answer, status: int, code: str) -> dict[str, Any]:
    """The body of a refusal, after checking its status, code and envelope."""
    got_status, body, _ = answer
    assert (got_status, body.get("error_code")) == (status, code), body
    assert body.keys() >= ERROR_FIELDS
    assert body["status"] == "failed"
    assert isinstance(body["details"], dict)
    return body


# --- success -----------------------------------------------------------------------------------


def test_a_refund_the_processor_approves_answers_200_with_exactly_the_spec_fields(api: Api) -> None:
    # Given a captured payment of 100.00 USD
    tid = api.pay(10_000)
    # When 40.00 of it is refunded
    status, body, headers = api.refund(tid, 4_000)
    # Then the answer is the SPEC's success body and nothing more
    assert status == 200
    assert set(body) == SUCCESS_FIELDS
    assert body["message"] == "Refund processed successfully."
    assert body["status"] == "success"
    assert body["refund_transaction_id"] == f"{tid}-REFUND"
    assert body["processor_message"]
    assert (body["amount"], body["currency"], body["remaining_refundable"]) == (4_000, "USD", 6_000)
    assert "Idempotent-Replayed" not in headers
    assert api.world.memory.payments() == {f"{tid}-REFUND": 1}


def test_a_lower_case_currency_is_read_as_its_code(api: Api) -> None:
    tid = api.pay(10_000, currency="EUR")
    status, body, _ = api.refund(tid, 100, currency="eur")
    assert (status, body["currency"]) == (200, "EUR")


def test_refund_ids_count_up_per_transaction(api: Api) -> None:
    tid = api.pay(10_000)
    first = api.refund(tid, 1_000)[1]["refund_transaction_id"]
    second = api.refund(tid, 1_000)[1]["refund_transaction_id"]
    assert (first, second) == (f"{tid}-REFUND", f"{tid}-REFUND-2")


def test_without_amount_everything_left_is_refunded_then_nothing_is_left(api: Api) -> None:
    # Given a payment of which 30.00 are already refunded
    tid = api.pay(10_000)
    api.refund(tid, 3_000)
    # When a refund names no amount
    status, body, _ = api.refund(tid)
    # Then it refunds the remaining 70.00
    assert (status, body["amount"], body["remaining_refundable"]) == (200, 7_000, 0)
    # And another refund finds nothing left
    details = refused(api.refund(tid, 1), 409, "ALREADY_REFUNDED")["details"]
    assert details["remaining_refundable"] == 0


@pytest.mark.parametrize("simulate", ["timeout", "pending"])
def test_an_unknown_outcome_answers_202_pending_and_keeps_the_reservation(
    api: Api, simulate: str
) -> None:
    tid = api.pay(10_000)
    status, body, _ = api.refund(tid, 2_500, simulate=simulate)
    assert status == 202
    assert set(body) == SUCCESS_FIELDS
    assert (body["status"], body["refund_transaction_id"]) == ("pending", f"{tid}-REFUND")
    assert body["remaining_refundable"] == 7_500
    assert api.ledger(tid)["summary"]["pending_refund_amount"] == 2_500


# --- refusals by the ledger ------------------------------------------------------------------


def test_an_unknown_transaction_is_404(api: Api) -> None:
    body = refused(api.refund("never-recorded", 100), 404, "TRANSACTION_NOT_FOUND")
    assert body["details"]["transaction_id"] == "never-recorded"


def test_a_pending_payment_is_409_transaction_pending(api: Api) -> None:
    tid = api.pay(10_000, status=PaymentStatus.PENDING)
    refused(api.refund(tid, 100), 409, "TRANSACTION_PENDING")


def test_transaction_pending_is_not_replayed_so_a_later_retry_with_the_key_goes_through(
    api: Api,
) -> None:
    # Given a refund refused because the payment is still pending ("retry later")
    tid = api.pay(10_000, status=PaymentStatus.PENDING)
    key = new_key()
    refused(api.refund(tid, 100, key=key), 409, "TRANSACTION_PENDING")
    # When the payment completes and the caller retries with the same key and body
    assert api.call("POST", f"/transactions/{tid}/complete")[0] == 200
    status, body, headers = api.refund(tid, 100, key=key)
    # Then the retry runs: it is not the stored refusal
    assert status == 200, body
    assert "Idempotent-Replayed" not in headers


@pytest.mark.parametrize("payment_status", [PaymentStatus.FAILED, PaymentStatus.VOIDED])
def test_a_failed_or_voided_payment_is_409_not_refundable(
    api: Api, payment_status: PaymentStatus
) -> None:
    tid = api.pay(10_000, status=payment_status)
    body = refused(api.refund(tid, 100), 409, "TRANSACTION_NOT_REFUNDABLE")
    assert body["details"]["payment_status"] == payment_status.value


def test_a_payment_with_a_chargeback_is_409_chargeback_conflict(api: Api) -> None:
    # Given a chargeback recorded through the API
    tid = api.pay(10_000)
    status, _, _ = api.call("POST", f"/transactions/{tid}/chargebacks", {"amount": 2_000})
    assert status == 201
    # Then no refund is possible, not even of the undisputed part
    refused(api.refund(tid, 100), 409, "CHARGEBACK_CONFLICT")
    assert api.ledger(tid)["summary"]["refunded_amount"] == 0


def test_past_the_refund_window_is_422(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    tid = api.pay(10_000)
    clock = api.world.clock
    monkeypatch.setattr(clock, "now", clock.now + timedelta(days=181))
    body = refused(api.refund(tid, 100), 422, "REFUND_WINDOW_EXPIRED")
    assert body["details"]["refund_deadline"]


def test_more_than_is_left_is_422_with_the_remaining_amount_and_the_refusal_replays(
    api: Api,
) -> None:
    # Given a payment with 25.00 already refunded
    tid = api.pay(10_000)
    api.refund(tid, 2_500)
    key = new_key()
    # When 80.00 more are asked for
    first = api.refund(tid, 8_000, key=key)
    # Then it is refused and the answer says 75.00 are left
    body = refused(first, 422, "AMOUNT_EXCEEDS_REFUNDABLE")
    assert body["details"]["remaining_refundable"] == 7_500
    # And the same request again gets the same answer, marked as a replay
    status, again, headers = api.refund(tid, 8_000, key=key)
    assert (status, again) == (422, body)
    assert headers.get("Idempotent-Replayed") == "true"


def test_another_currency_is_422_currency_mismatch(api: Api) -> None:
    tid = api.pay(10_000, currency="USD")
    body = refused(api.refund(tid, 100, currency="EUR"), 422, "CURRENCY_MISMATCH")
    assert body["details"]["payment_currency"] == "USD"


# --- the processor's answers -----------------------------------------------------------------


@pytest.mark.parametrize("simulate", ["decline", "insufficient_funds"])
def test_a_processor_decline_is_422_with_its_message_and_releases_the_amount(
    api: Api, simulate: str
) -> None:
    tid = api.pay(10_000)
    body = refused(api.refund(tid, 3_000, simulate=simulate), 422, "PROCESSOR_DECLINED")
    assert body["processor_message"]
    assert body["refund_transaction_id"] == f"{tid}-REFUND"
    summary = api.ledger(tid)["summary"]
    assert (summary["refundable_amount"], summary["pending_refund_amount"]) == (10_000, 0)
    assert api.world.memory.payments().get(f"{tid}-REFUND") is None


def test_an_unreachable_processor_is_503_and_nothing_is_refunded(api: Api) -> None:
    tid = api.pay(10_000)
    body = refused(api.refund(tid, 3_000, simulate="network_error"), 503, "PROCESSOR_UNAVAILABLE")
    assert body["details"]["processor_code"] == "PROCESSOR_UNAVAILABLE"
    summary = api.ledger(tid)["summary"]
    assert (summary["refunded_amount"], summary["refundable_amount"]) == (0, 10_000)
    assert api.world.memory.payments().get(f"{tid}-REFUND") is None


def test_a_503_is_not_stored_so_the_same_key_is_not_replayed(api: Api) -> None:
    # Given a refund that got 503 under a key
    tid = api.pay(10_000)
    key = new_key()
    refused(api.refund(tid, 3_000, key=key, simulate="network_error"), 503, "PROCESSOR_UNAVAILABLE")
    # When the caller retries with that key, even with another body
    status, body, headers = api.refund(tid, 3_000, key=key)
    # Then the retry is not a replay and not a reused key: no answer was stored for it
    assert "Idempotent-Replayed" not in headers
    assert body.get("error_code") != "IDEMPOTENCY_KEY_REUSED"
    assert status in (200, 503)


def test_a_rate_limited_refund_is_503_not_a_stored_decline(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a processor that answers "slow down" (it acted on nothing; retryable)
    processor = api.world.services.processor
    monkeypatch.setattr(
        processor, "refund", lambda _request: normalized(ProcessorCode.RATE_LIMITED, "simulated")
    )
    tid = api.pay(10_000)
    key = new_key()
    # When a refund is asked for
    body = refused(api.refund(tid, 1_000, key=key), 503, "PROCESSOR_UNAVAILABLE")
    # Then it is reported as retryable, and no answer is stored under the key
    assert body["details"]["processor_code"] == "RATE_LIMITED"
    assert api.refund(tid, 2_000, key=key)[1].get("error_code") != "IDEMPOTENCY_KEY_REUSED"


def test_a_retry_after_503_with_the_same_key_asks_the_processor_again(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a processor that is unreachable once, then answers
    processor = api.world.services.processor
    real_refund = processor.refund
    asked: list[str] = []

    def flaky(request: ProcessorRefundRequest) -> Any:
        asked.append(request.refund_id)
        if len(asked) == 1:
            raise ProcessorUnavailableError("connection refused")
        return real_refund(request)

    monkeypatch.setattr(processor, "refund", flaky)
    tid = api.pay(10_000)
    key = new_key()
    refused(api.refund(tid, 3_000, key=key), 503, "PROCESSOR_UNAVAILABLE")
    # When the caller retries with the same key and body
    status, body, _ = api.refund(tid, 3_000, key=key)
    # Then the processor is asked again and the refund goes through
    assert len(asked) == 2
    assert (status, body.get("status")) == (200, "success")


def test_ledger_contention_is_503_and_the_key_is_not_used_up(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a transaction that other writers keep changing under every attempt
    tid = api.pay(10_000)
    services = api.world.services
    key = new_key()
    with monkeypatch.context() as patch:
        patch.setattr(services, "policy", replace(services.policy, max_attempts=3))
        patch.setattr(services.store, "commit", _always_conflicting)
        # When a refund is asked for
        answer = api.refund(tid, 1_000, key=key)
    # Then the caller is told to retry shortly
    body = refused(answer, 503, "LEDGER_CONTENTION")
    assert body["message"]
    # And the retry with the same key runs
    status, _, headers = api.refund(tid, 1_000, key=key)
    assert status == 200
    assert "Idempotent-Replayed" not in headers


def _always_conflicting(change: Any) -> None:
    raise ConcurrentUpdateError("the head moved")


# --- idempotency -----------------------------------------------------------------------------


def test_the_same_key_and_body_replay_the_first_answer(api: Api) -> None:
    tid = api.pay(10_000)
    key = new_key()
    status, first, first_headers = api.refund(tid, 1_500, key=key)
    assert status == 200
    assert "Idempotent-Replayed" not in first_headers
    status, again, headers = api.refund(tid, 1_500, key=key)
    assert (status, again) == (200, first)
    assert headers["Idempotent-Replayed"] == "true"
    # and the refund happened once
    assert api.ledger(tid)["summary"]["refunded_amount"] == 1_500
    assert api.world.memory.payments()[f"{tid}-REFUND"] == 1


def test_the_same_key_with_another_body_is_422_and_refunds_nothing_more(api: Api) -> None:
    tid = api.pay(10_000)
    key = new_key()
    assert api.refund(tid, 1_000, key=key)[0] == 200
    refused(api.refund(tid, 2_000, key=key), 422, "IDEMPOTENCY_KEY_REUSED")
    assert api.ledger(tid)["summary"]["refunded_amount"] == 1_000


def test_keys_belong_to_the_caller_so_two_callers_may_use_the_same_one(api: Api) -> None:
    tid = api.pay(10_000)
    body = {"transaction_id": tid, "amount": 1_000, "reason": "other"}
    answers = [
        api.call(
            "POST",
            "/refunds",
            body,
            claims={"sub": subject, "scope": "refunds:write"},
            headers={"Idempotency-Key": "order-1"},
        )
        for subject in ("clerk-1", "clerk-2")
    ]
    assert [(status, headers.get("Idempotent-Replayed")) for status, _, headers in answers] == [
        (200, None),
        (200, None),
    ]
    assert [body["refund_transaction_id"] for _, body, _ in answers] == [
        f"{tid}-REFUND",
        f"{tid}-REFUND-2",
    ]


def test_a_key_still_being_processed_is_409_in_progress(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a processor that, while it handles a refund, sees the same request arrive again
    processor = api.world.services.processor
    real_refund = processor.refund
    second = sender(api.runtime)  # another resolver, as another Lambda instance would be
    tid = api.pay(10_000)
    key = new_key()
    body = {"transaction_id": tid, "amount": 500, "reason": "other"}
    meanwhile: list[Answer] = []

    def busy(request: ProcessorRefundRequest) -> Any:
        meanwhile.append(second("POST", "/refunds", body, headers={"Idempotency-Key": key}))
        return real_refund(request)

    monkeypatch.setattr(processor, "refund", busy)
    # When the first request runs
    status, _, _ = api.call("POST", "/refunds", body, headers={"Idempotency-Key": key})
    # Then it succeeds and the duplicate that arrived meanwhile was told to wait
    assert status == 200
    refused(meanwhile[0], 409, "IDEMPOTENCY_IN_PROGRESS")
    assert api.ledger(tid)["summary"]["refunded_amount"] == 500


def test_a_key_of_255_characters_is_accepted(api: Api) -> None:
    tid = api.pay(10_000)
    assert api.refund(tid, 100, key="k" * 255)[0] == 200


# --- refused before anything is written ------------------------------------------------------


@pytest.fixture
def paid(api: Api) -> str:
    """One payment that the refused requests below name and must leave untouched."""
    return api.pay(10_000)


def _post(api: Api, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return api.call(
        "POST",
        "/refunds",
        body,
        headers={"Idempotency-Key": new_key()} if headers is None else headers,
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Idempotency-Key": ""}, {"Idempotency-Key": "k" * 256}],
    ids=["missing", "empty", "256-characters"],
)
def test_without_a_usable_idempotency_key_is_400(
    api: Api, paid: str, headers: dict[str, str]
) -> None:
    before = api.written(paid)
    body = {"transaction_id": paid, "amount": 100, "reason": "other"}
    refused(_post(api, body, headers), 400, "MISSING_IDEMPOTENCY_KEY")
    assert api.written(paid) == before


INVALID_BODIES: dict[str, Any] = {
    "malformed-json": '{"transaction_id": "{tid}", "amount": 100,',
    "not-an-object": "[1, 2]",
    "no-body": None,
    "missing-transaction-id": {"amount": 100, "reason": "other"},
    "missing-reason": {"transaction_id": "{tid}", "amount": 100},
    "unknown-field": {"transaction_id": "{tid}", "amount": 100, "reason": "other", "note": "x"},
    "amount-zero": {"transaction_id": "{tid}", "amount": 0, "reason": "other"},
    "amount-negative": {"transaction_id": "{tid}", "amount": -5, "reason": "other"},
    "amount-string": {"transaction_id": "{tid}", "amount": "100", "reason": "other"},
    "amount-fraction": {"transaction_id": "{tid}", "amount": 10.5, "reason": "other"},
    "amount-boolean": {"transaction_id": "{tid}", "amount": True, "reason": "other"},
    "unknown-currency": {"transaction_id": "{tid}", "currency": "XYZ", "reason": "other"},
    "unknown-reason": {"transaction_id": "{tid}", "amount": 100, "reason": "changed_my_mind"},
    "metadata-21-keys": {
        "transaction_id": "{tid}",
        "reason": "other",
        "metadata": {f"k{i}": i for i in range(21)},
    },
    "metadata-over-2-KiB": {
        "transaction_id": "{tid}",
        "reason": "other",
        "metadata": {"note": "x" * 2_100},
    },
    "metadata-key-over-40-characters": {
        "transaction_id": "{tid}",
        "reason": "other",
        "metadata": {"k" * 41: "x"},
    },
    "metadata-nested-object": {
        "transaction_id": "{tid}",
        "reason": "other",
        "metadata": {"customer": {"id": 7}},
    },
    "body-over-16-KiB": {
        "transaction_id": "{tid}",
        "reason": "other",
        "metadata": {"note": "x" * 17_000},
    },
}


def _with_transaction(body: Any, tid: str) -> Any:
    if body is None:
        return None
    text = body if isinstance(body, str) else json.dumps(body)
    return text.replace("{tid}", tid)


@pytest.mark.parametrize("case", sorted(INVALID_BODIES))
def test_an_invalid_body_is_400_validation_error_and_writes_nothing(
    api: Api, paid: str, case: str
) -> None:
    before = api.written(paid)
    body = refused(
        _post(api, _with_transaction(INVALID_BODIES[case], paid)), 400, "VALIDATION_ERROR"
    )
    assert body["message"]
    assert api.written(paid) == before


def test_a_refused_body_does_not_use_up_its_idempotency_key(api: Api) -> None:
    tid = api.pay(10_000)
    key = new_key()
    refused(api.refund(tid, 0, key=key), 400, "VALIDATION_ERROR")
    assert api.refund(tid, 100, key=key)[0] == 200


# --- who did it ------------------------------------------------------------------------------


def test_an_initiator_in_the_body_is_refused_as_an_unknown_field(api: Api, paid: str) -> None:
    before = api.written(paid)
    body = {"transaction_id": paid, "amount": 100, "reason": "other", "initiator": "mallory"}
    details = refused(_post(api, body), 400, "VALIDATION_ERROR")["details"]
    assert ["body", "initiator"] in [error["loc"] for error in details["errors"]]
    assert api.written(paid) == before


def test_the_audit_trail_names_the_token_subject_as_initiator(api: Api) -> None:
    # Given a caller whose token says it is auditor-7
    tid = api.pay(10_000)
    claims = {"sub": "auditor-7", "scope": "refunds:write", "email": "a7@example.com"}
    body = {"transaction_id": tid, "amount": 100, "reason": "other"}
    status, _, _ = api.call(
        "POST", "/refunds", body, claims=claims, headers={"Idempotency-Key": "k"}
    )
    assert status == 200
    # Then every record of that request names auditor-7, a user
    records = [r for r in api.audit(tid)["records"] if r["action"] != "PAYMENT_RECORDED"]
    assert {r["action"] for r in records} >= {"REFUND_REQUESTED", "REFUND_SUCCEEDED"}
    assert {(r["initiator"]["type"], r["initiator"]["id"]) for r in records} == {
        ("user", "auditor-7")
    }
