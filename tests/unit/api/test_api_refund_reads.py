"""GET /refunds/{refund_id} and POST /refunds/{refund_id}/rollback through the handler."""

from __future__ import annotations

import pytest

from tests.unit.api.conftest import Api

REFUND_FIELDS = {
    "refund_transaction_id",
    "transaction_id",
    "status",
    "amount",
    "currency",
    "tax_amount",
    "fee_amount",
    "reason",
    "processor",
    "created_at",
    "updated_at",
    "entries",
}


def paid_refund(api: Api, simulate: str | None = None) -> tuple[str, str]:
    """(transaction id, refund id) of a 40.00 refund of a 100.00 payment with 10.00 tax."""
    tid = api.pay(10_000, tax=1_000)
    status, body, _ = api.refund(tid, 4_000, simulate=simulate)
    assert status in (200, 202, 422), body
    return tid, body["refund_transaction_id"]


# --- GET /refunds/{refund_id} ----------------------------------------------------------------


def test_a_refund_is_answered_with_the_spec_fields_and_its_entries(api: Api) -> None:
    tid, rid = paid_refund(api)
    status, body, _ = api.call("GET", f"/refunds/{rid}")
    assert status == 200
    assert body.keys() >= REFUND_FIELDS
    assert (body["refund_transaction_id"], body["transaction_id"]) == (rid, tid)
    assert (body["status"], body["amount"], body["currency"]) == ("success", 4_000, "USD")
    assert (body["tax_amount"], body["fee_amount"], body["reason"]) == (400, 0, "other")
    assert body["processor"]["status"] == "succeeded"
    assert body["created_at"] <= body["updated_at"]
    assert [e["type"] for e in body["entries"]] == ["REFUND_PENDING", "PAYMENT-SUCCESS"]
    assert {e["refund_id"] for e in body["entries"]} == {rid}


@pytest.mark.parametrize(
    "refund_id",
    ["never-recorded-REFUND", "{tid}-REFUND-7", "not-a-refund-id"],
    ids=["unknown-transaction", "unknown-number", "garbage"],
)
def test_an_unknown_refund_is_404(api: Api, refund_id: str) -> None:
    tid = api.pay(10_000)
    status, body, _ = api.call("GET", f"/refunds/{refund_id.format(tid=tid)}")
    assert (status, body["error_code"], body["status"]) == (404, "REFUND_NOT_FOUND", "failed")


# --- POST /refunds/{refund_id}/rollback ------------------------------------------------------


def test_a_rollback_reverses_the_entries_and_makes_the_amount_refundable_again(api: Api) -> None:
    # Given a paid refund of 40.00
    tid, rid = paid_refund(api)
    assert api.ledger(tid)["summary"]["refundable_amount"] == 6_000
    # When an admin rolls it back
    status, body, _ = api.call("POST", f"/refunds/{rid}/rollback", {"reason": "entered in error"})
    # Then the refund is rolled back by REVERSAL entries, the originals untouched
    assert status == 200
    assert body.keys() >= REFUND_FIELDS
    assert body["status"] == "rolled_back"
    types = [e["type"] for e in body["entries"]]
    assert types[:2] == ["REFUND_PENDING", "PAYMENT-SUCCESS"]
    assert set(types[2:]) == {"REVERSAL"}
    assert len(types) == 4
    # And the whole amount is refundable again
    summary = api.ledger(tid)["summary"]
    assert (summary["refunded_amount"], summary["refundable_amount"]) == (0, 10_000)
    assert summary["tax_refunded_amount"] == 0
    # And rolling it back again changes nothing
    assert api.call("POST", f"/refunds/{rid}/rollback", {"reason": "again"})[1] == body


@pytest.mark.parametrize(
    ("simulate", "refund_status"), [("pending", "pending"), ("decline", "failed")]
)
def test_only_a_succeeded_refund_can_be_rolled_back(
    api: Api, simulate: str, refund_status: str
) -> None:
    tid, rid = paid_refund(api, simulate)
    before = api.ledger(tid)
    status, body, _ = api.call("POST", f"/refunds/{rid}/rollback", {"reason": "test"})
    assert (status, body["error_code"]) == (409, "REFUND_NOT_REVERSIBLE")
    assert body["details"]["refund_status"] == refund_status
    assert api.ledger(tid) == before


def test_rolling_back_an_unknown_refund_is_404(api: Api) -> None:
    status, body, _ = api.call("POST", "/refunds/never-recorded-REFUND/rollback", {"reason": "x"})
    assert (status, body["error_code"]) == (404, "REFUND_NOT_FOUND")


@pytest.mark.parametrize("scopes", ["refunds:write", "refunds:write refunds:read ledger:write"])
def test_a_rollback_needs_the_admin_scope(api: Api, scopes: str) -> None:
    tid, rid = paid_refund(api)
    before = api.written(tid)
    status, body, _ = api.call(
        "POST", f"/refunds/{rid}/rollback", {"reason": "not allowed"}, scopes=scopes
    )
    assert (status, body["error_code"]) == (403, "FORBIDDEN")
    assert api.written(tid) == before


@pytest.mark.parametrize("body", [{}, None, {"reason": ""}], ids=["no-reason", "no-body", "empty"])
def test_a_rollback_without_a_reason_is_400(api: Api, body: dict[str, str] | None) -> None:
    tid, rid = paid_refund(api)
    before = api.written(tid)
    status, answer, _ = api.call("POST", f"/refunds/{rid}/rollback", body)
    assert (status, answer["error_code"]) == (400, "VALIDATION_ERROR")
    assert api.written(tid) == before
