"""Every answer to a client is true when given (SPEC 3.1), and idempotency keys are per caller."""

from __future__ import annotations

from typing import Any

from refund_service.api.refund_creation import key_digest
from refund_service.domain.audit import Initiator
from refund_service.service.context import Caller
from tests.support.events import claims_for
from tests.unit.api.conftest import Api


def forget_stored_answers(api: Api) -> None:
    """What the idempotency table's TTL does after 24 hours."""
    client: Any = api.world.client
    table = api.world.tables["Idempotency"]
    for item in client.scan(TableName=table)["Items"]:
        if not item["id"]["S"].startswith("simulated-processor#"):
            client.delete_item(TableName=table, Key={"id": item["id"]})


def test_a_retry_that_finds_its_refund_rolled_back_is_not_told_success(api: Api) -> None:
    tid = api.pay(10_000)
    status, first, _ = api.refund(tid, 4_000, key="k-rb")
    assert (status, first["status"]) == (200, "success")
    rollback = {"reason": "entered twice"}
    assert api.call("POST", f"/refunds/{tid}-REFUND/rollback", rollback)[0] == 200
    forget_stored_answers(api)
    status, body, _ = api.refund(tid, 4_000, key="k-rb")
    assert (status, body["error_code"]) == (409, "REFUND_ROLLED_BACK")
    assert body["details"]["refund_transaction_id"] == f"{tid}-REFUND"
    assert api.ledger(tid)["summary"]["refunded_amount"] == 0


def test_caller_and_key_cannot_be_spelled_to_share_a_record() -> None:
    one = Caller(Initiator("user", "team:alice"))
    other = Caller(Initiator("user", "team"))
    assert key_digest(one, "r1") != key_digest(other, "alice:r1")
    assert key_digest(one, "r1") == key_digest(Caller(Initiator("user", "team:alice")), "r1")


def test_callers_with_colliding_spellings_get_their_own_refunds(api: Api) -> None:
    tid = api.pay(10_000)
    body = {"transaction_id": tid, "reason": "other", "amount": 1_000}
    as_one = claims_for() | {"sub": "team:alice"}
    as_other = claims_for() | {"sub": "team"}
    first = api.call("POST", "/refunds", body, claims=as_one, headers={"Idempotency-Key": "r1"})
    second = api.call(
        "POST", "/refunds", body, claims=as_other, headers={"Idempotency-Key": "alice:r1"}
    )
    assert (first[0], second[0]) == (200, 200)
    assert first[1]["refund_transaction_id"] != second[1]["refund_transaction_id"]
    assert "Idempotent-Replayed" not in second[2]


def test_a_reused_key_is_refused_and_audited_on_the_payment_it_names(api: Api) -> None:
    tid = api.pay(10_000)
    assert api.refund(tid, 1_000, key="k-reuse")[0] == 200
    status, body, _ = api.refund(tid, 2_000, key="k-reuse")
    assert (status, body["error_code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    record = api.audit(tid)["records"][-1]
    assert record["action"] == "IDEMPOTENCY_KEY_REUSED"
    assert record["initiator"]["id"] == claims_for()["sub"]
