"""The Stripe adapter against a local stub answering in Stripe's documented shapes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from refund_service.adapters.processors import stripe
from refund_service.adapters.processors.credentials import StripeCredentials
from refund_service.adapters.processors.stripe import StripeProcessor
from refund_service.adapters.processors.transport import HttpTransport, RetryPolicy
from refund_service.domain.processor import (
    STANDARD_MESSAGES,
    ProcessorCode,
    ProcessorRefundRequest,
    ProcessorStatus,
    ProcessorTimeoutError,
    ProcessorUnavailableError,
)
from tests.unit.processors.conftest import FAST, IMPATIENT
from tests.unit.processors.stub_server import Reply, StubProcessor, refused_url

PI = "pi_1GszsK2eZvKYlo2CfhZyoZLp"
FIXTURES = Path(__file__).parent / "fixtures"
# Stripe's published example objects (fixtures/README.md says where from).
STRIPE_SAMPLES: dict[str, dict[str, Any]] = json.loads(
    (FIXTURES / "stripe_objects.json").read_text()
)
SAMPLE_REFUND_ID = STRIPE_SAMPLES["refund"]["id"]


def stripe_sample(name: str) -> dict[str, Any]:
    """A fresh copy of one published object: `refund`, `dispute` or `event`."""
    return copy.deepcopy(STRIPE_SAMPLES[name])


def refund_object(status: str | None = "succeeded", **fields: Any) -> dict[str, Any]:
    """Stripe's published refund, made ours: our metadata, a PaymentIntent, the given status."""
    return {
        **stripe_sample("refund"),
        "metadata": {"refund_id": "txn_1-REFUND", "transaction_id": "txn_1"},
        "payment_intent": PI,
        "status": status,
        **fields,
    }


def error(type_: str, message: str, **fields: Any) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message, "request_log_url": "https://x", **fields}}


def request(**fields: Any) -> ProcessorRefundRequest:
    values: dict[str, Any] = {
        "refund_id": "txn_1-REFUND",
        "transaction_id": "txn_1",
        "amount": 1000,
        "currency": "USD",
        "reason": "requested_by_customer",
        "payment_reference": PI,
    }
    return ProcessorRefundRequest(**{**values, **fields})


def processor(url: str, policy: RetryPolicy = FAST) -> StripeProcessor:
    credentials = StripeCredentials(api_key="sk_test_123", base_url=url)
    transport = HttpTransport(url, policy, should_retry=stripe.should_retry, sleep=lambda _: None)
    return StripeProcessor(credentials, transport=transport)


def form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode()).items()}


def test_a_succeeded_refund_is_approved(stub: StubProcessor) -> None:
    stub.reply(Reply(200, refund_object("succeeded")))
    result = processor(stub.url).refund(request())
    assert result.status is ProcessorStatus.SUCCEEDED
    assert result.code is ProcessorCode.APPROVED
    assert result.message == STANDARD_MESSAGES[ProcessorCode.APPROVED]
    assert result.processor == "stripe"
    assert result.processor_reference == SAMPLE_REFUND_ID
    assert result.processor_code == "succeeded"


def test_the_request_is_form_encoded_with_our_refund_id_as_key(stub: StubProcessor) -> None:
    stub.reply(Reply(200, refund_object()))
    processor(stub.url).refund(request())
    sent = stub.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/refunds")
    assert sent.header("Idempotency-Key") == "txn_1-REFUND"
    assert sent.header("Authorization") == "Bearer sk_test_123"
    assert sent.header("Stripe-Version") == "2026-10-28.endive"
    assert sent.header("Content-Type") == "application/x-www-form-urlencoded"
    assert form(sent.body) == {
        "payment_intent": PI,
        "amount": "1000",
        "reason": "requested_by_customer",
        "metadata[refund_id]": "txn_1-REFUND",
        "metadata[transaction_id]": "txn_1",
    }


def test_a_charge_reference_is_sent_as_charge_and_other_reason_is_omitted(
    stub: StubProcessor,
) -> None:
    stub.reply(Reply(200, refund_object()))
    processor(stub.url).refund(request(payment_reference="ch_1NirD8", reason="other"))
    sent = form(stub.requests[0].body)
    assert sent["charge"] == "ch_1NirD8"
    assert "reason" not in sent
    assert "payment_intent" not in sent


def test_amounts_are_sent_in_stripe_units(stub: StubProcessor) -> None:
    # ISK has no decimals in ISO 4217 but two in Stripe's API
    stub.reply(Reply(200, refund_object(currency="isk", amount=50000)))
    processor(stub.url).refund(request(amount=500, currency="ISK"))
    assert form(stub.requests[0].body)["amount"] == "50000"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"payment_reference": None}, "PaymentIntent"),
        ({"payment_reference": "txn_1"}, "PaymentIntent"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": "MGA", "amount": 150}, "no exact equivalent"),
    ],
)
def test_unsendable_requests_are_refused_without_calling_stripe(
    stub: StubProcessor, fields: dict[str, Any], problem: str
) -> None:
    result = processor(stub.url).refund(request(**fields))
    assert result.code is ProcessorCode.INVALID_REQUEST
    assert result.processor_code == "not_sent"
    assert problem in (result.processor_message or "")
    assert stub.requests == []


@pytest.mark.parametrize("status", ["pending", "requires_action", "some_future_status"])
def test_unsettled_refunds_stay_pending(stub: StubProcessor, status: str) -> None:
    stub.reply(Reply(200, refund_object(status)))
    result = processor(stub.url).refund(request())
    assert (result.status, result.code) == (ProcessorStatus.PENDING, ProcessorCode.PENDING)
    assert result.retryable
    assert result.processor_code == status


# Every refund status API version 2026-10-28.endive documents, and what it becomes.
DOCUMENTED_REFUND_STATUSES = {
    "succeeded": (ProcessorStatus.SUCCEEDED, ProcessorCode.APPROVED),
    "pending": (ProcessorStatus.PENDING, ProcessorCode.PENDING),
    "requires_action": (ProcessorStatus.PENDING, ProcessorCode.PENDING),
    "failed": (ProcessorStatus.FAILED, ProcessorCode.UNKNOWN),  # no failure_reason given
    "canceled": (ProcessorStatus.FAILED, ProcessorCode.DECLINED),
}


@pytest.mark.parametrize("status", sorted(DOCUMENTED_REFUND_STATUSES))
def test_every_documented_refund_status_is_normalized(status: str) -> None:
    result = stripe.result_of_refund(refund_object(status))
    assert (result.status, result.code) == DOCUMENTED_REFUND_STATUSES[status]
    assert result.processor_reference == SAMPLE_REFUND_ID


@pytest.mark.parametrize("status", [None, "", "partially_succeeded", "SUCCEEDED"])
def test_a_status_we_do_not_know_never_reads_as_paid_or_failed(status: str | None) -> None:
    result = stripe.result_of_refund(refund_object(status))
    assert (result.status, result.code) == (ProcessorStatus.PENDING, ProcessorCode.PENDING)


@pytest.mark.parametrize("reason", ["processing", "insufficient_funds", "charge_pending"])
def test_why_a_refund_is_pending_goes_into_the_audit_message(
    stub: StubProcessor, reason: str
) -> None:
    stub.reply(Reply(200, refund_object("pending", pending_reason=reason)))
    result = processor(stub.url).refund(request())
    assert result.code is ProcessorCode.PENDING
    assert result.processor_message == f"refund pending: {reason}"


def test_a_settled_refund_carries_no_pending_reason() -> None:
    result = stripe.result_of_refund(refund_object("succeeded", pending_reason="processing"))
    assert result.processor_message is None


def test_a_canceled_refund_is_declined(stub: StubProcessor) -> None:
    stub.reply(Reply(200, refund_object("canceled")))
    assert processor(stub.url).refund(request()).code is ProcessorCode.DECLINED


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("lost_or_stolen_card", ProcessorCode.LOST_OR_STOLEN_CARD),
        ("expired_or_canceled_card", ProcessorCode.EXPIRED_OR_CANCELED_CARD),
        ("charge_for_pending_refund_disputed", ProcessorCode.DISPUTED),
        ("insufficient_funds", ProcessorCode.INSUFFICIENT_FUNDS),
        ("declined", ProcessorCode.DECLINED),
        ("merchant_request", ProcessorCode.DECLINED),
        ("unknown", ProcessorCode.UNKNOWN),
        ("reason_added_next_year", ProcessorCode.UNKNOWN),
    ],
)
def test_failure_reasons_are_normalized(
    stub: StubProcessor, reason: str, code: ProcessorCode
) -> None:
    stub.reply(Reply(200, refund_object("failed", failure_reason=reason)))
    result = processor(stub.url).refund(request())
    assert result.status is ProcessorStatus.FAILED
    assert result.code is code
    assert not result.retryable
    assert result.processor_code == reason
    assert result.message == STANDARD_MESSAGES[code]


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            400,
            error(
                "invalid_request_error",
                "Charge ch_1 has already been refunded.",
                code="charge_already_refunded",
            ),
            ProcessorCode.ALREADY_REFUNDED,
        ),
        (
            400,
            error(
                "invalid_request_error",
                "Charge ch_1 has been charged back.",
                code="charge_disputed",
            ),
            ProcessorCode.DISPUTED,
        ),
        (
            400,
            error(
                "invalid_request_error",
                "Refund amount ($20.00) is greater than unrefunded amount on charge ($10.00)",
                param="amount",
            ),
            ProcessorCode.INVALID_REQUEST,
        ),
        (
            404,
            error(
                "invalid_request_error",
                "No such payment_intent: 'pi_x'",
                code="resource_missing",
                param="payment_intent",
            ),
            ProcessorCode.INVALID_REQUEST,
        ),
        (
            401,
            error("invalid_request_error", "Invalid API Key provided: sk_test_****"),
            ProcessorCode.AUTHENTICATION_ERROR,
        ),
        (
            403,
            error("invalid_request_error", "The provided key does not have access"),
            ProcessorCode.AUTHENTICATION_ERROR,
        ),
        (
            402,
            error("card_error", "Your card was declined.", code="card_declined"),
            ProcessorCode.DECLINED,
        ),
    ],
)
def test_error_answers_are_normalized(
    stub: StubProcessor, status: int, body: dict[str, Any], code: ProcessorCode
) -> None:
    stub.reply(Reply(status, body))
    result = processor(stub.url).refund(request())
    assert result.code is code
    assert result.status is ProcessorStatus.FAILED
    assert result.processor_message == body["error"]["message"]
    assert len(stub.requests) == 1  # a 4xx is final


def test_over_refund_keeps_stripe_message_for_the_audit_trail(stub: StubProcessor) -> None:
    message = "Refund amount ($20.00) is greater than unrefunded amount on charge ($10.00)"
    stub.reply(Reply(400, error("invalid_request_error", message, param="amount")))
    result = processor(stub.url).refund(request(amount=2000))
    assert (result.code, result.processor_code) == (
        ProcessorCode.INVALID_REQUEST,
        "invalid_request_error",
    )
    assert result.processor_message == message


def test_rate_limiting_is_retried_then_reported(stub: StubProcessor) -> None:
    body = error(
        "invalid_request_error", "Too many requests hit the API too quickly.", code="rate_limit"
    )
    stub.reply(*[Reply(429, body)] * FAST.max_attempts)
    result = processor(stub.url).refund(request())
    assert result.code is ProcessorCode.RATE_LIMITED
    assert result.retryable
    assert len(stub.requests) == FAST.max_attempts


def test_server_error_then_success_reuses_the_idempotency_key(stub: StubProcessor) -> None:
    stub.reply(Reply(500, error("api_error", "Something went wrong")), Reply(200, refund_object()))
    result = processor(stub.url).refund(request())
    assert result.code is ProcessorCode.APPROVED
    keys = [r.header("Idempotency-Key") for r in stub.requests]
    assert keys == ["txn_1-REFUND", "txn_1-REFUND"]
    assert stub.requests[0].body == stub.requests[1].body


def test_server_errors_throughout_leave_the_refund_unknown(stub: StubProcessor) -> None:
    # Stripe documents a 500 as indeterminate: the refund may exist
    stub.reply(*[Reply(500, error("api_error", "Something went wrong"))] * FAST.max_attempts)
    with pytest.raises(ProcessorTimeoutError):
        processor(stub.url).refund(request())


def test_stripe_should_retry_false_stops_retrying(stub: StubProcessor) -> None:
    stub.reply(
        Reply(503, error("api_error", "x"), headers={"Stripe-Should-Retry": "false"}),
        Reply(200, refund_object()),
    )
    with pytest.raises(ProcessorTimeoutError):
        processor(stub.url).refund(request())
    assert len(stub.requests) == 1


def test_key_in_use_conflict_is_retried(stub: StubProcessor) -> None:
    busy = error(
        "idempotency_error",
        "There is currently another in-progress request using this Stripe-Idempotency-Key",
        code="idempotency_key_in_use",
    )
    stub.reply(Reply(409, busy), Reply(200, refund_object()))
    assert processor(stub.url).refund(request()).code is ProcessorCode.APPROVED


def test_connection_refused_raises_unavailable() -> None:
    with pytest.raises(ProcessorUnavailableError):
        processor(refused_url()).refund(request())


def test_read_timeout_raises_timeout(stub: StubProcessor) -> None:
    stub.reply(*[Reply(200, refund_object(), delay=1.0)] * IMPATIENT.max_attempts)
    with pytest.raises(ProcessorTimeoutError):
        processor(stub.url, policy=IMPATIENT).refund(request())


def test_an_unreadable_success_leaves_the_refund_unknown(stub: StubProcessor) -> None:
    stub.reply(Reply(200, b"<html>gateway</html>"))
    with pytest.raises(ProcessorTimeoutError):
        processor(stub.url).refund(request())


def list_of(*refunds: dict[str, Any], has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "url": "/v1/refunds", "has_more": has_more, "data": list(refunds)}


def other_refund(n: int) -> dict[str, Any]:
    return refund_object(id=f"re_other{n}", metadata={"refund_id": f"txn_1-REFUND-{n + 2}"})


def test_lookup_finds_our_refund_by_metadata_across_pages(stub: StubProcessor) -> None:
    stub.reply(
        Reply(200, list_of(other_refund(1), other_refund(2), has_more=True)),
        Reply(200, list_of(refund_object("pending"))),
    )
    result = processor(stub.url).lookup(request())
    assert result is not None
    assert (result.code, result.processor_reference) == (
        ProcessorCode.PENDING,
        SAMPLE_REFUND_ID,
    )
    first, second = (urlsplit(r.path) for r in stub.requests)
    assert first.path == "/v1/refunds"
    assert parse_qs(first.query) == {"payment_intent": [PI], "limit": ["100"]}
    assert parse_qs(second.query)["starting_after"] == ["re_other2"]
    assert stub.requests[0].header("Idempotency-Key") is None


def test_lookup_of_a_refund_stripe_never_saw_is_none(stub: StubProcessor) -> None:
    stub.reply(Reply(200, list_of(other_refund(1))))
    assert processor(stub.url).lookup(request()) is None


def test_lookup_of_an_unknown_payment_is_none(stub: StubProcessor) -> None:
    stub.reply(
        Reply(
            404, error("invalid_request_error", "No such payment_intent", code="resource_missing")
        )
    )
    assert processor(stub.url).lookup(request()) is None


def test_lookup_without_a_stripe_payment_reference_is_none(stub: StubProcessor) -> None:
    assert processor(stub.url).lookup(request(payment_reference="txn_1")) is None
    assert stub.requests == []


@pytest.mark.parametrize("reply", [Reply(500, {}), Reply(401, {}), Reply(200, b"oops")])
def test_lookup_that_cannot_learn_anything_raises_unavailable(
    stub: StubProcessor, reply: Reply
) -> None:
    stub.reply(*[reply] * FAST.max_attempts)
    with pytest.raises(ProcessorUnavailableError):
        processor(stub.url).lookup(request())


def test_lookup_refused_raises_unavailable() -> None:
    with pytest.raises(ProcessorUnavailableError):
        processor(refused_url()).lookup(request())


def test_a_key_reused_with_other_parameters_answers_with_the_first_refund(
    stub: StubProcessor,
) -> None:
    conflict = error(
        "idempotency_error",
        "Keys for idempotent requests can only be used with "
        "the same parameters they were first used with.",
    )
    stub.reply(Reply(400, conflict), Reply(200, list_of(refund_object("succeeded"))))
    result = processor(stub.url).refund(request(amount=999))
    assert result.code is ProcessorCode.APPROVED
    assert [r.method for r in stub.requests] == ["POST", "GET"]


def test_a_key_conflict_with_no_refund_found_is_invalid(stub: StubProcessor) -> None:
    conflict = error("idempotency_error", "Keys for idempotent requests can only be used ...")
    stub.reply(Reply(400, conflict), Reply(200, list_of()))
    assert processor(stub.url).refund(request()).code is ProcessorCode.INVALID_REQUEST


# --- The send deadline ------------------------------------------------------------------------


def test_no_refund_is_sent_once_the_send_deadline_is_too_close(stub: StubProcessor) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=FAST.connect_timeout)
    with pytest.raises(ProcessorUnavailableError, match="send deadline"):
        processor(stub.url).refund(request(send_by=soon))
    assert stub.requests == []


def test_a_refund_is_sent_while_the_send_deadline_is_far(stub: StubProcessor) -> None:
    stub.reply(Reply(200, refund_object("succeeded")))
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert processor(stub.url).refund(request(send_by=later)).code is ProcessorCode.APPROVED


# --- Refunds in a window, for processor reconciliation ----------------------------------------

SINCE = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
UNTIL = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def listed(n: int, status: str = "succeeded") -> dict[str, Any]:
    return refund_object(
        status,
        id=f"re_{n}",
        amount=100 * n,
        created=int(SINCE.timestamp()) + n,
        metadata={"refund_id": f"txn_{n}-REFUND", "transaction_id": f"txn_{n}"},
    )


def test_refunds_between_follows_every_page_of_the_window(stub: StubProcessor) -> None:
    # Given three pages of refunds, the last one closing the list
    stub.reply(
        Reply(200, list_of(listed(5), listed(4), has_more=True)),
        Reply(200, list_of(listed(3, "pending"), listed(2), has_more=True)),
        Reply(200, list_of(listed(1, "failed"))),
    )
    # When the window is listed
    records = list(processor(stub.url).refunds_between(SINCE, UNTIL) or [])
    # Then every refund of every page is there, in our terms
    assert [r.processor_reference for r in records] == ["re_5", "re_4", "re_3", "re_2", "re_1"]
    assert [r.refund_id for r in records] == [f"txn_{n}-REFUND" for n in (5, 4, 3, 2, 1)]
    assert [r.status for r in records] == [
        ProcessorStatus.SUCCEEDED,
        ProcessorStatus.SUCCEEDED,
        ProcessorStatus.PENDING,
        ProcessorStatus.SUCCEEDED,
        ProcessorStatus.FAILED,
    ]
    assert (records[0].processor, records[0].amount, records[0].currency) == ("stripe", 500, "USD")
    assert records[0].created_at == "2026-11-28T08:00:05.000+00:00"
    # And each page asked for the same window, after the last refund of the page before
    queries = [parse_qs(urlsplit(r.path).query) for r in stub.requests]
    assert {urlsplit(r.path).path for r in stub.requests} == {"/v1/refunds"}
    for query in queries:
        assert query["created[gte]"] == [str(int(SINCE.timestamp()))]
        assert query["created[lt]"] == [str(int(UNTIL.timestamp()))]
        assert query["limit"] == ["100"]
    assert [q.get("starting_after") for q in queries] == [None, ["re_4"], ["re_2"]]
    assert {r.method for r in stub.requests} == {"GET"}


def test_a_refund_made_outside_the_service_is_listed_without_our_id(stub: StubProcessor) -> None:
    # Stripe's own fixture refund: no metadata, a charge, ISO units of USD
    stub.reply(Reply(200, list_of(stripe_sample("refund"))))
    (record,) = processor(stub.url).refunds_between(SINCE, UNTIL) or []
    assert (record.processor_reference, record.refund_id) == ("re_1Pgc72B7WZ01zgkWqPvrRrPE", None)
    assert (record.amount, record.currency, record.status) == (
        100,
        "USD",
        ProcessorStatus.SUCCEEDED,
    )
    assert record.created_at == "2009-02-13T23:31:30.000+00:00"


def test_listing_amounts_come_back_in_iso_units(stub: StubProcessor) -> None:
    stub.reply(Reply(200, list_of(refund_object(currency="isk", amount=50_000))))
    (record,) = processor(stub.url).refunds_between(SINCE, UNTIL) or []
    assert (record.amount, record.currency) == (500, "ISK")


def test_window_ends_in_fractions_of_a_second_round_up(stub: StubProcessor) -> None:
    stub.reply(Reply(200, list_of()))
    since = SINCE + timedelta(milliseconds=1)
    assert list(processor(stub.url).refunds_between(since, UNTIL) or []) == []
    query = parse_qs(urlsplit(stub.requests[0].path).query)
    assert query["created[gte]"] == [str(int(SINCE.timestamp()) + 1)]


@pytest.mark.parametrize(
    "reply",
    [Reply(500, {}), Reply(401, {}), Reply(200, b"oops"), Reply(200, list_of({"id": "re_x"}))],
    ids=["5xx", "401", "not-json", "unreadable-refund"],
)
def test_a_listing_that_cannot_be_read_whole_raises_unavailable(
    stub: StubProcessor, reply: Reply
) -> None:
    stub.reply(*[reply] * FAST.max_attempts)
    with pytest.raises(ProcessorUnavailableError):
        processor(stub.url).refunds_between(SINCE, UNTIL)


def test_a_failing_later_page_fails_the_whole_listing(stub: StubProcessor) -> None:
    stub.reply(Reply(200, list_of(listed(2), has_more=True)), *[Reply(503, {})] * 3)
    with pytest.raises(ProcessorUnavailableError):
        processor(stub.url).refunds_between(SINCE, UNTIL)


def test_a_listing_that_never_ends_is_stopped(
    stub: StubProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe, "MAX_WINDOW_PAGES", 2)
    stub.reply(*[Reply(200, list_of(listed(n), has_more=True)) for n in (1, 2, 3)])
    with pytest.raises(ProcessorUnavailableError, match="more than 2 pages"):
        processor(stub.url).refunds_between(SINCE, UNTIL)
    assert len(stub.requests) == 2
