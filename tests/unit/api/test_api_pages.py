"""GET .../ledger and GET .../audit answer a page at a time, with an opaque cursor."""

from __future__ import annotations

from typing import Any

import pytest

from refund_service.service import queries
from tests.unit.api.conftest import Api


def pages(api: Api, path: str, limit: int) -> list[dict[str, Any]]:
    """Every page of a listing, following next_cursor to its end."""
    answers, cursor = [], None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, body, _ = api.call("GET", path + query)
        assert status == 200, body
        answers.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return answers


def refused(api: Api, transaction_id: str, times: int) -> None:
    """`times` distinct refused requests: three audit records each."""
    for number in range(times):
        assert api.refund(transaction_id, 20_000 + number)[0] == 422


def test_the_audit_trail_reads_page_by_page_and_the_chain_covers_all_of_it(api: Api) -> None:
    # Given a payment with a long audit trail
    tid = api.pay(10_000)
    refused(api, tid, 12)
    stored = [r.hash for r in api.world.store.audit_records(tid)]
    assert len(stored) > 30
    # When it is read 7 records at a time
    answers = pages(api, f"/transactions/{tid}/audit", 7)
    # Then the pages hold every record once, in order, and each says the whole chain is valid
    assert [r["hash"] for page in answers for r in page["records"]] == stored
    assert all(len(page["records"]) == 7 for page in answers[:-1])
    assert all(page["chain"] == {"valid": True, "length": len(stored)} for page in answers)


def test_a_broken_record_on_an_earlier_page_shows_on_every_page(api: Api) -> None:
    # Given a long trail with its third record altered in the table
    tid = api.pay(10_000)
    refused(api, tid, 4)
    api.world.client.update_item(
        TableName=api.world.tables["PaymentAuditTrail"],
        Key={"pk": {"S": f"TXN#{tid}"}, "sk": {"S": "AUDIT#00000003"}},
        UpdateExpression="SET amount = :a",
        ExpressionAttributeValues={":a": {"N": "1"}},
    )
    # When a later page is read
    first = pages(api, f"/transactions/{tid}/audit", 5)[-1]
    # Then its chain still reports the break, though record 3 is not on it
    assert all(r["seq"] > 5 for r in first["records"])
    assert first["chain"]["valid"] is False
    assert first["chain"]["first_invalid_seq"] == 3


def test_the_ledger_reads_page_by_page_with_its_summary(api: Api) -> None:
    # Given a payment with many entries
    tid = api.pay(10_000)
    for _ in range(6):
        assert api.refund(tid, 100)[0] == 200
    whole = api.ledger(tid)
    # When it is read 4 entries at a time
    answers = pages(api, f"/transactions/{tid}/ledger", 4)
    # Then every entry comes once, in order, and each page carries the summary
    assert [e for page in answers for e in page["entries"]] == whole["entries"]
    assert len(answers) == -(-len(whole["entries"]) // 4)
    assert all(page["summary"] == whole["summary"] for page in answers)


def test_the_first_page_keeps_the_shape_it_had(api: Api) -> None:
    # Given a short ledger
    tid = api.pay(10_000)
    # When it is read without paging parameters
    body = api.ledger(tid)
    # Then it is the summary and every entry, with no further page
    assert set(body) == {"summary", "entries", "next_cursor"}
    assert body["next_cursor"] is None and len(body["entries"]) == 1


def test_a_page_stops_short_of_the_byte_budget(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a budget that holds about two audit records
    tid = api.pay(10_000)
    refused(api, tid, 2)
    monkeypatch.setattr(queries, "PAGE_BYTE_BUDGET", 1_500)
    # When the trail is read with a large limit
    answers = pages(api, f"/transactions/{tid}/audit", 1000)
    # Then each page stays within the budget and none is lost
    assert len(answers) > 1
    assert sum(len(page["records"]) for page in answers) == 7


@pytest.mark.parametrize(
    "query",
    [
        "cursor=garbage",
        "cursor=WyJhdWRpdCIsIngiLDFd",  # a well-formed cursor of another transaction
        "cursor=WyJsZWRnZXIiLCJ0eG4tcGFnZXMiLC0xXQ",  # a negative position
        "limit=0",
        "limit=1001",
        "limit=ten",
    ],
)
def test_a_cursor_or_limit_that_is_not_one_is_refused(api: Api, query: str) -> None:
    # Given a payment
    tid = api.pay(10_000, transaction_id="txn-pages")
    for listing in ("ledger", "audit"):
        # When a listing is asked for with a made-up cursor or a limit out of range
        status, body, _ = api.call("GET", f"/transactions/{tid}/{listing}?{query}")
        # Then it is a validation error in the envelope
        assert status == 400, (listing, body)
        assert body["error_code"] == "VALIDATION_ERROR"


def test_a_cursor_of_one_listing_is_refused_by_the_other(api: Api) -> None:
    # Given a cursor handed out by the audit listing
    tid = api.pay(10_000)
    refused(api, tid, 1)
    _, body, _ = api.call("GET", f"/transactions/{tid}/audit?limit=1")
    # When it is sent to the ledger listing
    status, refusal, _ = api.call("GET", f"/transactions/{tid}/ledger?cursor={body['next_cursor']}")
    # Then it is refused
    assert status == 400 and refusal["error_code"] == "VALIDATION_ERROR"
