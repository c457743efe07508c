"""The transaction routes through the handler: ledger, audit trail, payments, chargebacks."""

from __future__ import annotations

import json
from collections import defaultdict
from itertools import pairwise
from typing import Any

import pytest

from tests.unit.api.conftest import Api

SUMMARY_FIELDS = {
    "transaction_id",
    "status",
    "currency",
    "captured_amount",
    "refunded_amount",
    "pending_refund_amount",
    "refundable_amount",
    "tax_amount",
    "tax_refunded_amount",
    "fee_amount",
    "fee_refunded_amount",
    "version",
}
ENTRY_FIELDS = {"entry_id", "seq", "type", "created_at", "refund_id", "postings"}
POSTING_FIELDS = {"account", "direction", "amount", "currency"}
AUDIT_FIELDS = {
    "seq",
    "action",
    "timestamp",
    "transaction_id",
    "refund_id",
    "amount",
    "currency",
    "initiator",
    "details",
    "prev_hash",
    "hash",
}


def payment(transaction_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "amount": 10_000,
        "currency": "EUR",
        "status": "completed",
        **fields,
    }


# --- GET /transactions/{id}/ledger -----------------------------------------------------------


def test_the_ledger_has_the_spec_summary_and_balanced_entries(api: Api) -> None:
    # Given a payment with tax and fee, and a refund of part of it
    tid = api.pay(10_000, tax=1_000, fee=300)
    assert api.refund(tid, 2_000)[0] == 200
    # When its ledger is read
    status, body, _ = api.call("GET", f"/transactions/{tid}/ledger")
    # Then the summary carries the SPEC fields with the right amounts
    assert status == 200
    assert set(body) == {"summary", "entries", "next_cursor"}
    assert body["next_cursor"] is None
    summary = body["summary"]
    assert summary.keys() >= SUMMARY_FIELDS
    assert summary["status"] == "partially_refunded"
    assert (summary["captured_amount"], summary["refunded_amount"]) == (10_000, 2_000)
    assert (summary["pending_refund_amount"], summary["refundable_amount"]) == (0, 8_000)
    assert (summary["tax_amount"], summary["tax_refunded_amount"]) == (1_000, 200)
    assert (summary["fee_amount"], summary["fee_refunded_amount"]) == (300, 0)
    # And every entry is a balanced journal in sequence
    entries = body["entries"]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert [e["type"] for e in entries] == [
        "PAYMENT",
        "TAX",
        "FEE",
        "REFUND_PENDING",
        "PAYMENT-SUCCESS",
    ]
    for entry in entries:
        assert entry.keys() >= ENTRY_FIELDS
        assert entry["refund_id"] in (None, f"{tid}-REFUND")
        sums: dict[tuple[str, str], int] = defaultdict(int)
        for posting in entry["postings"]:
            assert set(posting) == POSTING_FIELDS
            assert posting["direction"] in ("debit", "credit")
            sums[(posting["currency"], posting["direction"])] += posting["amount"]
        for currency in {c for c, _ in sums}:
            assert sums[(currency, "debit")] == sums[(currency, "credit")], entry


def test_the_ledger_of_an_unknown_transaction_is_404(api: Api) -> None:
    status, body, _ = api.call("GET", "/transactions/never-recorded/ledger")
    assert (status, body["error_code"]) == (404, "TRANSACTION_NOT_FOUND")


# --- GET /transactions/{id}/audit ------------------------------------------------------------


def test_the_audit_trail_is_a_verified_chain_without_personal_data_in_clear(api: Api) -> None:
    # Given a payment and a refund made by a user whose token carries an e-mail
    status, _, _ = api.call("POST", "/transactions", payment("txn-audit-1"))
    assert status == 201
    assert api.refund("txn-audit-1", 1_000)[0] == 200
    # When the audit trail is read
    status, body, _ = api.call("GET", "/transactions/txn-audit-1/audit")
    # Then it is the records and a valid chain over all of them
    assert status == 200
    assert set(body) == {"records", "chain", "repeated_refusals", "next_cursor"}
    assert body["next_cursor"] is None and body["repeated_refusals"] == []
    records = body["records"]
    assert body["chain"]["valid"] is True
    assert body["chain"]["length"] == len(records)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert records[0]["action"] == "PAYMENT_RECORDED"
    assert {"REFUND_REQUESTED", "REFUND_PENDING", "REFUND_SUCCEEDED"} <= {
        r["action"] for r in records
    }
    for previous, record in pairwise(records):
        assert record["prev_hash"] == previous["hash"]
    for record in records:
        assert record.keys() >= AUDIT_FIELDS
        assert record["transaction_id"] == "txn-audit-1"
        assert record["initiator"]["type"] in ("user", "system")
        assert record["initiator"]["id"] == "user-42"
    # And neither the caller's e-mail nor its address appears anywhere in clear
    text = json.dumps(body)
    assert "ops@example.com" not in text
    assert "203.0.113.9" not in text


def test_the_audit_trail_of_an_unknown_transaction_is_404(api: Api) -> None:
    status, body, _ = api.call("GET", "/transactions/never-recorded/audit")
    assert (status, body["error_code"]) == (404, "TRANSACTION_NOT_FOUND")


def test_a_refused_refund_for_an_unknown_transaction_stores_nothing(api: Api) -> None:
    status, _, _ = api.refund("never-recorded", 100)
    assert status == 404
    status, body, _ = api.call("GET", "/transactions/never-recorded/audit")
    assert body.get("records", []) == []
    assert api.call("GET", "/transactions/never-recorded/ledger")[0] == 404


def test_a_refused_refund_for_a_known_transaction_is_audited(api: Api) -> None:
    tid = api.pay(1_000)
    status, _, _ = api.refund(tid, 5_000)
    assert status == 422
    records = api.call("GET", f"/transactions/{tid}/audit")[1]["records"]
    assert records[-1]["action"] == "REFUND_REJECTED"
    assert records[-1]["details"]["error_code"] == "AMOUNT_EXCEEDS_REFUNDABLE"


# --- POST /transactions ----------------------------------------------------------------------


def test_recording_a_payment_answers_201_with_its_ledger_and_again_for_the_same_body(
    api: Api,
) -> None:
    body = payment(
        "txn-rec-1",
        tax_amount=1_900,
        fee_amount=250,
        customer_reference="c-9",
        processor_reference="ch_3PqR",
    )
    status, first, _ = api.call("POST", "/transactions", body)
    assert status == 201
    summary = first["summary"]
    assert summary.keys() >= SUMMARY_FIELDS
    assert (summary["transaction_id"], summary["status"], summary["currency"]) == (
        "txn-rec-1",
        "completed",
        "EUR",
    )
    assert (summary["captured_amount"], summary["refundable_amount"]) == (10_000, 10_000)
    assert (summary["tax_amount"], summary["fee_amount"]) == (1_900, 250)
    assert [e["type"] for e in first["entries"]] == ["PAYMENT", "TAX", "FEE"]
    assert first["entries"][0]["reference"] == "ch_3PqR"
    # the identical request again records nothing new
    status, again, _ = api.call("POST", "/transactions", body)
    assert (status, again) == (201, first)


def test_a_different_payment_under_a_known_id_is_409(api: Api) -> None:
    assert api.call("POST", "/transactions", payment("txn-rec-2"))[0] == 201
    before = api.written("txn-rec-2")
    status, body, _ = api.call("POST", "/transactions", payment("txn-rec-2", amount=10_001))
    assert (status, body["error_code"]) == (409, "TRANSACTION_EXISTS")
    assert api.written("txn-rec-2") == before


@pytest.mark.parametrize(
    "fields",
    [
        {"tax_amount": 10_001},
        {"fee_amount": 10_001},
        {"fx_rate": "1.08"},
        {"settlement_currency": "USD"},
        {"settlement_currency": "USD", "fx_rate": "abc"},
        {"settlement_currency": "USD", "fx_rate": "0"},
        {"captured_at": "yesterday"},
        {"status": "refunded"},
        {"amount": 0},
        {"currency": "XYZ"},
    ],
    ids=[
        "tax-over-amount",
        "fee-over-amount",
        "fx-rate-without-settlement-currency",
        "settlement-currency-without-fx-rate",
        "fx-rate-not-a-number",
        "fx-rate-zero",
        "captured-at-not-iso-8601",
        "unknown-status",
        "amount-zero",
        "unknown-currency",
    ],
)
def test_an_invalid_payment_is_400_and_not_recorded(api: Api, fields: dict[str, Any]) -> None:
    status, body, _ = api.call("POST", "/transactions", payment("txn-invalid", **fields))
    assert (status, body["error_code"]) == (400, "VALIDATION_ERROR")
    assert api.call("GET", "/transactions/txn-invalid/ledger")[0] == 404
    assert api.call("GET", "/transactions/txn-invalid/audit")[0] == 404


def test_recording_a_payment_needs_the_ledger_write_scope(api: Api) -> None:
    status, body, _ = api.call(
        "POST", "/transactions", payment("txn-scope"), scopes="refunds:write refunds:admin"
    )
    assert (status, body["error_code"]) == (403, "FORBIDDEN")
    assert api.call("GET", "/transactions/txn-scope/audit")[0] == 404


@pytest.mark.parametrize("payment_status", ["failed", "voided"])
def test_a_failed_or_voided_payment_is_recorded_and_cannot_be_refunded(
    api: Api, payment_status: str
) -> None:
    tid = f"txn-{payment_status}"
    status, body, _ = api.call("POST", "/transactions", payment(tid, status=payment_status))
    assert (status, body["summary"]["refundable_amount"]) == (201, 0)
    status, body, _ = api.refund(tid, 100)
    assert (status, body["error_code"]) == (409, "TRANSACTION_NOT_REFUNDABLE")


def test_a_service_token_is_audited_as_system(api: Api) -> None:
    claims = {"sub": "billing-sync", "client_id": "billing-sync", "scope": "ledger:write"}
    status, _, _ = api.call("POST", "/transactions", payment("txn-sys"), claims=claims)
    assert status == 201
    initiator = api.audit("txn-sys")["records"][0]["initiator"]
    assert (initiator["type"], initiator["id"]) == ("system", "billing-sync")


# --- POST /transactions/{id}/complete --------------------------------------------------------


def test_completing_a_pending_payment_makes_it_refundable_and_repeating_it_changes_nothing(
    api: Api,
) -> None:
    # Given a pending payment
    status, body, _ = api.call("POST", "/transactions", payment("txn-pend", status="pending"))
    assert (status, body["summary"]["status"], body["summary"]["refundable_amount"]) == (
        201,
        "pending",
        0,
    )
    # When it completes
    status, completed, _ = api.call("POST", "/transactions/txn-pend/complete")
    # Then it is refundable in full
    assert status == 200
    assert (completed["summary"]["status"], completed["summary"]["refundable_amount"]) == (
        "completed",
        10_000,
    )
    # And completing it again answers the same ledger
    status, again, _ = api.call("POST", "/transactions/txn-pend/complete")
    assert (status, again) == (200, completed)


def test_completing_an_unknown_payment_is_404(api: Api) -> None:
    status, body, _ = api.call("POST", "/transactions/never-recorded/complete")
    assert (status, body["error_code"]) == (404, "TRANSACTION_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("POST", "complete", None), ("POST", "chargebacks", {})],
    ids=["complete", "chargeback"],
)
def test_a_failed_payment_cannot_be_completed_or_charged_back(
    api: Api, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    assert api.call("POST", "/transactions", payment("txn-f", status="failed"))[0] == 201
    status, answer, _ = api.call(method, f"/transactions/txn-f/{suffix}", body)
    assert (status, answer["error_code"]) == (409, "TRANSACTION_NOT_REFUNDABLE")


# --- POST /transactions/{id}/chargebacks -----------------------------------------------------


def test_a_chargeback_answers_201_and_then_refunds_are_refused(api: Api) -> None:
    # Given a completed payment
    tid = api.pay(10_000)
    # When the processor reports a chargeback of 30.00
    status, body, _ = api.call(
        "POST",
        f"/transactions/{tid}/chargebacks",
        {"amount": 3_000, "reason": "fraudulent", "processor_reference": "cb_123"},
    )
    # Then it is in the ledger
    assert status == 201
    assert body["summary"]["status"] == "chargeback"
    assert body["summary"]["chargeback_amount"] == 3_000
    assert body["entries"][-1]["type"] == "CHARGEBACK"
    # And a refund is now a conflict
    status, body, _ = api.refund(tid, 100)
    assert (status, body["error_code"]) == (409, "CHARGEBACK_CONFLICT")


def test_the_same_chargeback_reference_again_records_nothing_new(api: Api) -> None:
    tid = api.pay(10_000)
    chargeback = {"amount": 1_000, "processor_reference": "dp_9"}
    status, first, _ = api.call("POST", f"/transactions/{tid}/chargebacks", chargeback)
    assert status == 201
    status, again, _ = api.call("POST", f"/transactions/{tid}/chargebacks", chargeback)
    assert (status, again) == (201, first)


def test_a_chargeback_above_the_payment_is_400_and_audited(api: Api) -> None:
    tid = api.pay(10_000)
    status, body, _ = api.call("POST", f"/transactions/{tid}/chargebacks", {"amount": 10_001})
    assert (status, body["error_code"]) == (400, "VALIDATION_ERROR")
    assert body["details"]["captured_amount"] == 10_000
    records = api.call("GET", f"/transactions/{tid}/audit")[1]["records"]
    assert records[-1]["action"] == "CHARGEBACK_REJECTED"
    assert api.ledger(tid)["summary"]["chargeback_amount"] == 0


def test_a_chargeback_without_a_body_disputes_what_is_left(api: Api) -> None:
    tid = api.pay(10_000)
    status, body, _ = api.call("POST", f"/transactions/{tid}/chargebacks")
    assert status == 201, body
    assert api.ledger(tid)["summary"]["chargeback_amount"] == 10_000


def test_a_chargeback_on_an_unknown_payment_is_404(api: Api) -> None:
    status, body, _ = api.call("POST", "/transactions/never-recorded/chargebacks", {})
    assert (status, body["error_code"]) == (404, "TRANSACTION_NOT_FOUND")


def test_a_chargeback_on_a_pending_payment_is_409(api: Api) -> None:
    assert api.call("POST", "/transactions", payment("txn-cb-p", status="pending"))[0] == 201
    status, body, _ = api.call("POST", "/transactions/txn-cb-p/chargebacks", {})
    assert (status, body["error_code"]) == (409, "TRANSACTION_PENDING")
