"""Refund ids: `{transaction_id}-REFUND`, then `-REFUND-2`, `-REFUND-3`, ..."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refund_service.domain.ids import parse_refund_id, refund_id

transaction_ids = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.",  # no ":"
    min_size=1,
    max_size=40,
)


@pytest.mark.parametrize("tid", ["txn_123", "pi-3MtwBwLkdIwHu7ix", "a"])
def test_refund_ids_are_numbered_after_the_transaction(tid: str) -> None:
    assert refund_id(tid, 1) == f"{tid}-REFUND"
    assert refund_id(tid, 2) == f"{tid}-REFUND-2"
    assert refund_id(tid, 10) == f"{tid}-REFUND-10"


@pytest.mark.parametrize("n", [0, -1])
def test_refunds_are_numbered_from_one(n: int) -> None:
    with pytest.raises(ValueError):
        refund_id("txn_123", n)


@settings(max_examples=200)
@given(tid=transaction_ids, n=st.integers(1, 10**6))
def test_parse_refund_id_round_trips(tid: str, n: int) -> None:
    assert parse_refund_id(refund_id(tid, n)) == (tid, n)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("txn-2024-01-abc-REFUND", ("txn-2024-01-abc", 1)),
        ("txn-2024-01-abc-REFUND-2", ("txn-2024-01-abc", 2)),
        ("a-REFUND-REFUND-3", ("a-REFUND", 3)),  # a transaction id that itself ends in -REFUND
        ("x-REFUND-2-REFUND", ("x-REFUND-2", 1)),
        ("x-REFUND-10", ("x", 10)),
    ],
)
def test_parse_refund_id_with_dashes_in_the_transaction_id(
    value: str, parsed: tuple[str, int]
) -> None:
    assert parse_refund_id(value) == parsed


@pytest.mark.parametrize(
    "value",
    [
        "x-REFUND-1",  # the first refund has no number
        "x-REFUND-0",
        "x-REFUND-02",
        "x-REFUND--2",
        "x-REFUND-",
        "x-REFUNDS",
        "x-refund",
        "x-REFUND-2a",
        "-REFUND",  # no transaction id
        "REFUND",
        "x",
        "",
        "x-REFUND\n",  # a trailing newline is not part of a valid id
        "x-REFUND-2\n",
    ],
)
def test_parse_refund_id_rejects_malformed_ids(value: str) -> None:
    assert parse_refund_id(value) is None
