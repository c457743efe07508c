"""The audit trail's hash chain: any edit, removal or reordering is detected."""

from __future__ import annotations

from dataclasses import fields, replace
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refund_service.domain.audit import (
    GENESIS_HASH,
    AuditAction,
    AuditRecord,
    ChainHead,
    Initiator,
    canonical_json,
    chain,
    digest,
    record_hash,
    verify_chain,
)

TID = "txn-audit-1"

texts = st.text("abcxyz019 -_@.é€", max_size=10)
initiators = st.builds(
    Initiator,
    type=st.sampled_from(["user", "system"]),
    id=texts,
    email_ciphertext=st.none() | texts,
    source_ip_ciphertext=st.none() | texts,
)
records = st.builds(
    AuditRecord,
    seq=st.just(0),
    action=st.sampled_from(list(AuditAction)),
    timestamp=st.integers(0, 10**9).map(lambda t: f"2024-01-01T00:00:00.{t:09d}Z"),
    transaction_id=st.just(TID),
    initiator=initiators,
    refund_id=st.none() | st.just(f"{TID}-REFUND"),
    amount=st.none() | st.integers(0, 10**12),
    currency=st.none() | st.sampled_from(["USD", "EUR", "JPY"]),
    # keys are lower case, so an added "TAMPERED" key is always new
    details=st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=6), st.integers() | texts, max_size=3
    ),
    correlation_id=st.none() | texts,
)


@st.composite
def chains(draw: st.DrawFn, min_size: int = 1) -> tuple[list[AuditRecord], ChainHead]:
    # sealed in one or two batches, as the service appends records step by step
    raw = draw(st.lists(records, min_size=min_size, max_size=5))
    cut = draw(st.integers(0, len(raw)))
    first, head = chain(ChainHead(), raw[:cut])
    second, head = chain(head, raw[cut:])
    return first + second, head


def _flip(hex_digest: str) -> str:
    return ("1" if hex_digest[0] == "0" else "0") + hex_digest[1:]


def _tampered(record: AuditRecord, name: str) -> Any:
    """A value for field `name` that differs from the record's."""
    value = getattr(record, name)
    if name in ("prev_hash", "hash"):
        return _flip(value)
    if name == "action":
        return next(a for a in AuditAction if a is not value)
    if name == "initiator":
        return replace(value, id=value.id + "!")
    if name == "details":
        return {**value, "TAMPERED": 1}
    if name in ("seq", "amount"):
        return (value or 0) + 1
    return (value or "") + "!"


RECORD_FIELDS = [f.name for f in fields(AuditRecord)]


@settings(max_examples=50, deadline=None)
@given(chains())
def test_an_intact_chain_verifies_with_its_length(
    pair: tuple[list[AuditRecord], ChainHead],
) -> None:
    sealed, head = pair
    assert [r.seq for r in sealed] == list(range(1, len(sealed) + 1))
    assert sealed[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in pairwise(sealed))
    assert head == ChainHead(len(sealed), sealed[-1].hash)
    for result in (verify_chain(sealed), verify_chain(sealed, head)):
        assert result.valid
        assert result.length == len(sealed)
        assert result.first_invalid_seq is None
        assert result.reason is None


@settings(max_examples=80, deadline=None)
@given(pair=chains(), name=st.sampled_from(RECORD_FIELDS), data=st.data())
def test_changing_any_field_of_any_record_breaks_the_chain(
    pair: tuple[list[AuditRecord], ChainHead], name: str, data: st.DataObject
) -> None:
    sealed, head = pair
    index = data.draw(st.integers(0, len(sealed) - 1), label="index")
    # When one field of one record is changed
    tampered = list(sealed)
    tampered[index] = replace(sealed[index], **{name: _tampered(sealed[index], name)})
    # Then the chain breaks at that record, with or without the head
    for result in (verify_chain(tampered), verify_chain(tampered, head)):
        assert not result.valid
        assert result.first_invalid_seq == index + 1
        assert result.reason


@settings(max_examples=50, deadline=None)
@given(pair=chains(), name=st.sampled_from(RECORD_FIELDS[:-2]), data=st.data())
def test_a_changed_record_with_a_recomputed_hash_still_breaks_the_chain(
    pair: tuple[list[AuditRecord], ChainHead], name: str, data: st.DataObject
) -> None:
    sealed, head = pair
    index = data.draw(st.integers(0, len(sealed) - 1), label="index")
    # When a record is edited and its own hash recomputed to match
    edited = replace(sealed[index], **{name: _tampered(sealed[index], name)})
    tampered = list(sealed)
    tampered[index] = replace(edited, hash=record_hash(edited))
    # Then the next record's link (or the chain head, for the last record) gives it away
    result = verify_chain(tampered, head)
    assert not result.valid
    assert result.first_invalid_seq is not None
    assert result.first_invalid_seq >= index + 1


@settings(max_examples=50, deadline=None)
@given(pair=chains(), data=st.data())
def test_dropping_any_record_breaks_the_chain(
    pair: tuple[list[AuditRecord], ChainHead], data: st.DataObject
) -> None:
    sealed, head = pair
    index = data.draw(st.integers(0, len(sealed) - 1), label="dropped")
    # When one record is removed (the last one included)
    shortened = sealed[:index] + sealed[index + 1 :]
    # Then the chain, checked against its head, is broken
    result = verify_chain(shortened, head)
    assert not result.valid
    assert result.length == len(sealed) - 1
    assert result.first_invalid_seq == index + 1
    if index < len(sealed) - 1:
        # a gap in the middle shows even without the head
        assert not verify_chain(shortened).valid


@settings(max_examples=50, deadline=None)
@given(pair=chains(min_size=2), data=st.data())
def test_swapping_any_two_records_breaks_the_chain(
    pair: tuple[list[AuditRecord], ChainHead], data: st.DataObject
) -> None:
    sealed, head = pair
    i = data.draw(st.integers(0, len(sealed) - 2), label="i")
    j = data.draw(st.integers(i + 1, len(sealed) - 1), label="j")
    swapped = list(sealed)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    for result in (verify_chain(swapped), verify_chain(swapped, head)):
        assert not result.valid
        assert result.first_invalid_seq == i + 1
        assert result.reason == f"expected record {i + 1}, found {j + 1}"


@settings(max_examples=40, deadline=None)
@given(pair=chains(min_size=2))
def test_renumbering_after_a_removal_breaks_the_links(
    pair: tuple[list[AuditRecord], ChainHead],
) -> None:
    sealed, _ = pair
    # When the first record is cut and the rest renumbered to hide the gap
    renumbered = [replace(r, seq=r.seq - 1) for r in sealed[1:]]
    result = verify_chain(renumbered)
    assert not result.valid
    assert result.first_invalid_seq == 1


def test_chain_head_from_another_chain_is_refused() -> None:
    record = AuditRecord(0, AuditAction.REFUND_REQUESTED, "t", TID, Initiator("user", "u1"))
    sealed, head = chain(ChainHead(), [record, record])
    assert verify_chain(sealed, head).valid
    result = verify_chain(sealed, ChainHead(2, GENESIS_HASH))
    assert not result.valid
    assert result.reason == "chain head does not match the last record"
    assert verify_chain([], ChainHead()).valid
    assert not verify_chain([], head).valid


def test_record_hash_refuses_floats() -> None:
    record = AuditRecord(
        1, AuditAction.REFUND_REQUESTED, "t", TID, Initiator("user", "u1"), details={"x": 1.5}
    )
    with pytest.raises(TypeError, match="float"):
        record_hash(record)


def test_canonical_json_is_byte_exact_and_digest_is_stable() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"\\u00e9"],"b":1}'
    assert digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1})
    assert digest({"a": 1}) != digest({"a": 2})
    assert len(digest([])) == 64
    with pytest.raises(TypeError):
        canonical_json({"a": object()})


def test_initiator_public_view_names_only_which_fields_are_encrypted() -> None:
    initiator = Initiator("user", "u1", email_ciphertext="CIPHER", source_ip_ciphertext=None)
    assert initiator.public_view() == {"type": "user", "id": "u1", "encrypted_fields": ["email"]}
    assert Initiator("system", "reconciler").public_view() == {"type": "system", "id": "reconciler"}
