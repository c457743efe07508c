"""The Adyen adapter against a local stub answering in the Checkout API's documented shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from refund_service.adapters.processors.adyen import AdyenProcessor
from refund_service.adapters.processors.credentials import AdyenCredentials
from refund_service.adapters.processors.transport import HttpTransport, RetryPolicy
from refund_service.domain.processor import (
    ProcessorCode,
    ProcessorRefundRequest,
    ProcessorStatus,
    ProcessorTimeoutError,
    ProcessorUnavailableError,
)
from tests.unit.processors.conftest import FAST, IMPATIENT
from tests.unit.processors.stub_server import Reply, StubProcessor, refused_url

PAYMENT = "993617895204576J"
RECEIVED = {
    "merchantAccount": "TestMerchant",
    "paymentPspReference": PAYMENT,
    "pspReference": "X6V9CT8PHJ7BC7X2",
    "reference": "txn_1-REFUND",
    "status": "received",
    "amount": {"currency": "EUR", "value": 1000},
}


def adyen_error(status: int, code: str, message: str, error_type: str) -> dict[str, Any]:
    return {"status": status, "errorCode": code, "message": message, "errorType": error_type}


def request(**fields: Any) -> ProcessorRefundRequest:
    values: dict[str, Any] = {
        "refund_id": "txn_1-REFUND",
        "transaction_id": "txn_1",
        "amount": 1000,
        "currency": "EUR",
        "reason": "requested_by_customer",
        "payment_reference": PAYMENT,
    }
    return ProcessorRefundRequest(**{**values, **fields})


def processor(url: str, policy: RetryPolicy = FAST) -> AdyenProcessor:
    credentials = AdyenCredentials(
        api_key="AQE_key", merchant_account="TestMerchant", base_url=url + "/v71", hmac_keys=()
    )
    transport = HttpTransport(credentials.base_url, policy, sleep=lambda _: None)
    return AdyenProcessor(credentials, transport=transport)


def test_received_is_pending_with_adyen_reference(stub: StubProcessor) -> None:
    stub.reply(Reply(201, RECEIVED))
    result = processor(stub.url).refund(request())
    assert (result.status, result.code) == (ProcessorStatus.PENDING, ProcessorCode.PENDING)
    assert result.processor == "adyen"
    assert result.processor_reference == "X6V9CT8PHJ7BC7X2"
    assert result.processor_code == "received"


def test_the_request_follows_the_checkout_api(stub: StubProcessor) -> None:
    stub.reply(Reply(201, RECEIVED))
    processor(stub.url).refund(request())
    sent = stub.requests[0]
    assert (sent.method, sent.path) == ("POST", f"/v71/payments/{PAYMENT}/refunds")
    assert sent.header("X-API-Key") == "AQE_key"
    assert sent.header("Idempotency-Key") == "txn_1-REFUND"
    assert sent.header("Content-Type") == "application/json"
    assert sent.json() == {
        "amount": {"value": 1000, "currency": "EUR"},
        "merchantAccount": "TestMerchant",
        "reference": "txn_1-REFUND",
        "merchantRefundReason": "CUSTOMER REQUEST",
    }


@pytest.mark.parametrize(
    ("reason", "adyen_reason"),
    [("duplicate", "DUPLICATE"), ("fraudulent", "FRAUD"), ("other", "OTHER")],
)
def test_reasons_are_mapped(stub: StubProcessor, reason: str, adyen_reason: str) -> None:
    stub.reply(Reply(201, RECEIVED))
    processor(stub.url).refund(request(reason=reason))
    assert stub.requests[0].json()["merchantRefundReason"] == adyen_reason


def test_amounts_are_sent_in_adyen_units(stub: StubProcessor) -> None:
    # IDR has two decimals in ISO 4217 and none at Adyen
    stub.reply(Reply(201, RECEIVED))
    processor(stub.url).refund(request(amount=1500000, currency="IDR"))
    assert stub.requests[0].json()["amount"] == {"value": 15000, "currency": "IDR"}


def test_long_refund_ids_get_a_bounded_idempotency_key(stub: StubProcessor) -> None:
    refund_id = "t" * 60 + "-REFUND-12"
    stub.reply(Reply(201, RECEIVED))
    processor(stub.url).refund(request(refund_id=refund_id))
    sent = stub.requests[0]
    assert len(sent.header("Idempotency-Key") or "") == 64
    assert sent.json()["reference"] == refund_id  # the webhook still carries our id


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"payment_reference": None}, "pspReference"),
        ({"refund_id": "t" * 80 + "-REFUND"}, "80-character"),
        ({"currency": "IDR", "amount": 150}, "no exact equivalent"),
    ],
)
def test_unsendable_requests_are_refused_without_calling_adyen(
    stub: StubProcessor, fields: dict[str, Any], problem: str
) -> None:
    result = processor(stub.url).refund(request(**fields))
    assert (result.code, result.processor_code) == (ProcessorCode.INVALID_REQUEST, "not_sent")
    assert problem in (result.processor_message or "")
    assert stub.requests == []


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            422,
            adyen_error(422, "137", "Invalid amount specified", "validation"),
            ProcessorCode.INVALID_REQUEST,
        ),
        (
            400,
            adyen_error(400, "702", "Structure of the request is invalid", "validation"),
            ProcessorCode.INVALID_REQUEST,
        ),
        (
            401,
            adyen_error(401, "000", "HTTP Status Response - Unauthorized", "security"),
            ProcessorCode.AUTHENTICATION_ERROR,
        ),
        (
            403,
            adyen_error(403, "010", "Not allowed", "security"),
            ProcessorCode.AUTHENTICATION_ERROR,
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
    assert result.processor_code == body["errorCode"]
    assert result.processor_message == body["message"]


def test_rate_limited_is_reported_after_retries(stub: StubProcessor) -> None:
    stub.reply(*[Reply(429, adyen_error(429, "429", "Too many requests", "throttling"))] * 3)
    result = processor(stub.url).refund(request())
    assert result.code is ProcessorCode.RATE_LIMITED
    assert len(stub.requests) == FAST.max_attempts


def test_server_error_then_received_reuses_the_idempotency_key(stub: StubProcessor) -> None:
    stub.reply(
        Reply(500, adyen_error(500, "905", "Payment details are not supported", "internal")),
        Reply(201, RECEIVED),
    )
    assert processor(stub.url).refund(request()).code is ProcessorCode.PENDING
    assert [r.header("Idempotency-Key") for r in stub.requests] == ["txn_1-REFUND"] * 2
    assert stub.requests[0].body == stub.requests[1].body


def test_server_errors_throughout_leave_the_refund_unknown(stub: StubProcessor) -> None:
    stub.reply(*[Reply(503, {})] * FAST.max_attempts)
    with pytest.raises(ProcessorTimeoutError):
        processor(stub.url).refund(request())


def test_connection_refused_raises_unavailable() -> None:
    with pytest.raises(ProcessorUnavailableError):
        processor(refused_url()).refund(request())


def test_read_timeout_raises_timeout(stub: StubProcessor) -> None:
    stub.reply(*[Reply(201, RECEIVED, delay=1.0)] * IMPATIENT.max_attempts)
    with pytest.raises(ProcessorTimeoutError):
        processor(stub.url, policy=IMPATIENT).refund(request())


def test_an_unreadable_success_leaves_the_refund_unknown(stub: StubProcessor) -> None:
    stub.reply(Reply(201, b"not json"))
    with pytest.raises(ProcessorTimeoutError):
        processor(stub.url).refund(request())


def test_lookup_leaves_the_refund_to_the_webhook(stub: StubProcessor) -> None:
    result = processor(stub.url).lookup(request())
    assert result is not None
    assert (result.status, result.code) == (ProcessorStatus.PENDING, ProcessorCode.PENDING)
    assert result.processor_code == "awaiting_webhook"
    assert stub.requests == []  # there is no lookup API to call


def test_lookup_of_a_refund_that_was_never_sendable_is_none(stub: StubProcessor) -> None:
    assert processor(stub.url).lookup(request(payment_reference=None)) is None


def test_no_refund_is_sent_once_the_send_deadline_is_too_close(stub: StubProcessor) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=FAST.connect_timeout)
    with pytest.raises(ProcessorUnavailableError, match="send deadline"):
        processor(stub.url).refund(request(send_by=soon))
    assert stub.requests == []


def test_a_retry_that_could_outlast_the_send_deadline_is_not_started(stub: StubProcessor) -> None:
    # Room for one attempt only: after a 5xx the refund may exist, so its outcome is unknown
    now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    credentials = AdyenCredentials(api_key="k", merchant_account="TestMerchant", base_url=stub.url)
    transport = HttpTransport(stub.url, FAST, sleep=lambda _: None, wall_clock=lambda: now)
    adyen = AdyenProcessor(credentials, transport=transport)
    stub.reply(Reply(500, {}), Reply(201, RECEIVED))
    room = timedelta(seconds=FAST.connect_timeout + FAST.read_timeout + 0.005)
    with pytest.raises(ProcessorTimeoutError):
        adyen.refund(request(send_by=now + room))
    assert len(stub.requests) == 1


def test_adyen_has_no_refund_list() -> None:
    since = datetime(2026, 11, 28, tzinfo=UTC)
    assert (
        processor("http://127.0.0.1:9").refunds_between(since, since + timedelta(hours=1)) is None
    )
