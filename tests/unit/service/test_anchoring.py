"""Hourly anchors of the audit chain heads, and `verify` checking chains against them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from refund_service.adapters.anchor_stores import FolderAnchorStore, S3AnchorStore
from refund_service.adapters.dynamodb import codec
from refund_service.domain.audit import ChainHead, chain
from refund_service.domain.merkle import inclusion_proof, merkle_root, verify_inclusion
from refund_service.domain.refund import RefundReason
from refund_service.service.anchoring import run_anchoring, verify_anchor_chain
from refund_service.service.queries import verify_all, verify_transaction
from refund_service.service.refunds import RefundCommand, request_refund
from tests.support.world import USER, World


@pytest.fixture
def anchors(tmp_path: Path) -> FolderAnchorStore:
    return FolderAnchorStore(tmp_path / ".local" / "anchors")


def anchor_now(world: World, anchors: FolderAnchorStore) -> list[str]:
    return run_anchoring(world.store, anchors, world.clock).anchors


def rewrite_consistently(world: World, transaction_id: str) -> None:
    """What an insider with write access to the tables can do: change a record, then
    recompute every hash after it and the head, so the chain checks out on its own."""
    records = world.store.audit_records(transaction_id)
    altered = [replace(records[0], amount=1), *records[1:]]
    resealed, head = chain(ChainHead(), altered)
    for record in resealed:
        world.client.put_item(
            TableName=world.tables["PaymentAuditTrail"],
            Item=codec.serialize(codec.audit_to_item(record)),
        )
    world.client.update_item(
        TableName=world.tables["PaymentLedger"],
        Key={"pk": {"S": f"TXN#{transaction_id}"}, "sk": {"S": "HEAD"}},
        UpdateExpression="SET audit_hash = :h",
        ExpressionAttributeValues={":h": {"S": head.hash}},
    )


# --- the Merkle tree ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_every_leaf_is_proven_and_no_other_value_is(size: int) -> None:
    leaves = [f"leaf-{n}".encode() for n in range(size)]
    root = merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        proof = inclusion_proof(leaves, index)
        assert verify_inclusion(leaf, index, size, proof, root)
        assert not verify_inclusion(b"forged", index, size, proof, root)
        if size > 1:
            assert not verify_inclusion(leaf, (index + 1) % size, size, proof, root)


# --- anchoring ----------------------------------------------------------------------------------


def test_each_hour_anchors_the_heads_that_changed_in_it_chained_to_the_last(
    world: World, anchors: FolderAnchorStore
) -> None:
    # Given three payments recorded at 09:00
    first = [world.pay() for _ in range(3)]
    # When the anchoring runs at 10:05, and again at 10:30
    world.clock.advance(hours=1, minutes=5)
    assert anchor_now(world, anchors) == ["2026-11-02T09"]
    world.clock.advance(minutes=25)
    assert anchor_now(world, anchors) == []
    # And one of them changes at 10:30, and the anchoring runs at 11:05
    request_refund(world.services, RefundCommand(first[0], RefundReason.OTHER, 100), USER)
    world.clock.advance(minutes=35)
    assert anchor_now(world, anchors) == ["2026-11-02T10"]
    # Then the first anchor holds the three heads, the second only the one that changed,
    # linked to the first by its digest
    latest, earlier = list(anchors.newest_first())
    assert sorted(leaf[0] for leaf in earlier["leaves"]) == sorted(first)
    assert [leaf[0] for leaf in latest["leaves"]] == [first[0]]
    assert latest["previous_digest"] == earlier["digest"]
    assert verify_anchor_chain(anchors) is None


def test_hours_missed_are_caught_up_one_anchor_each(
    world: World, anchors: FolderAnchorStore
) -> None:
    # Given an anchor at 10:05
    world.pay()
    world.clock.advance(hours=1, minutes=5)
    anchor_now(world, anchors)
    # When the next run comes three hours late
    world.clock.advance(hours=3)
    # Then each hour in between gets its own anchor, empty or not
    assert anchor_now(world, anchors) == ["2026-11-02T10", "2026-11-02T11", "2026-11-02T12"]
    assert verify_anchor_chain(anchors) is None


def test_an_anchor_file_is_never_replaced(anchors: FolderAnchorStore, world: World) -> None:
    world.pay()
    world.clock.advance(hours=1, minutes=5)
    anchor_now(world, anchors)
    (document,) = anchors.newest_first()
    with pytest.raises(FileExistsError):
        anchors.put(document)


# --- verify -------------------------------------------------------------------------------------


def test_verify_finds_a_chain_rewritten_consistently_after_it_was_anchored(
    world: World, anchors: FolderAnchorStore
) -> None:
    # Given an anchored payment with a refund
    tid = world.pay(amount=10_000)
    request_refund(world.services, RefundCommand(tid, RefundReason.OTHER, 2_500), USER)
    world.clock.advance(hours=1, minutes=5)
    anchor_now(world, anchors)
    assert verify_transaction(world.store, tid, anchors).ok
    # When every audit record and the head are rewritten with recomputed hashes
    rewrite_consistently(world, tid)
    # Then the chain alone checks out, but the anchor catches it
    assert verify_transaction(world.store, tid).ok
    result = verify_transaction(world.store, tid, anchors)
    assert not result.ok
    assert result.anchor is not None
    assert result.anchor.anchor_id == "2026-11-02T09"
    assert result.anchor.reason == "record hash differs from the anchored head"
    assert verify_all(world.store, anchors=anchors).checked == 1
    assert len(verify_all(world.store, anchors=anchors).failures) == 1


def test_verify_checks_against_the_latest_anchor_that_covers_the_transaction(
    world: World, anchors: FolderAnchorStore
) -> None:
    # Given a payment anchored at 10:05, refunded at 10:05 and anchored again at 11:05
    tid = world.pay(amount=10_000)
    world.clock.advance(hours=1, minutes=5)
    anchor_now(world, anchors)
    request_refund(world.services, RefundCommand(tid, RefundReason.OTHER, 100), USER)
    world.clock.advance(hours=1)
    anchor_now(world, anchors)
    # When it is verified
    result = verify_transaction(world.store, tid, anchors)
    # Then the check ran against the later anchor, at the later chain head
    assert result.ok and result.anchor is not None
    assert result.anchor.anchor_id == "2026-11-02T10"
    assert result.anchor.anchored_seq == world.store.load(tid).head.chain.seq


def test_a_transaction_not_anchored_yet_passes_and_says_so(
    world: World, anchors: FolderAnchorStore
) -> None:
    tid = world.pay()
    result = verify_transaction(world.store, tid, anchors)
    assert result.ok and result.anchor is not None
    assert result.anchor.reason == "not anchored yet"


def test_a_truncated_chain_fails_against_its_anchor(
    world: World, anchors: FolderAnchorStore
) -> None:
    # Given an anchored payment with a refund (several records)
    tid = world.pay(amount=10_000)
    request_refund(world.services, RefundCommand(tid, RefundReason.OTHER, 100), USER)
    world.clock.advance(hours=1, minutes=5)
    anchor_now(world, anchors)
    # When its last record is deleted and the head moved back onto the one before
    records = world.store.audit_records(tid)
    world.client.delete_item(
        TableName=world.tables["PaymentAuditTrail"],
        Key={"pk": {"S": f"TXN#{tid}"}, "sk": {"S": codec.audit_sk(records[-1].seq)}},
    )
    world.client.update_item(
        TableName=world.tables["PaymentLedger"],
        Key={"pk": {"S": f"TXN#{tid}"}, "sk": {"S": "HEAD"}},
        UpdateExpression="SET audit_hash = :h, audit_seq = :s",
        ExpressionAttributeValues={
            ":h": {"S": records[-2].hash},
            ":s": {"N": str(records[-2].seq)},
        },
    )
    # Then the chain agrees with its head, but not with the anchor
    assert verify_transaction(world.store, tid).chain.valid
    result = verify_transaction(world.store, tid, anchors)
    assert result.anchor is not None and not result.anchor.ok


def test_an_edited_anchor_file_is_found(world: World, anchors: FolderAnchorStore) -> None:
    # Given two anchors on disk
    world.pay()
    world.clock.advance(hours=1, minutes=5)
    anchor_now(world, anchors)
    world.pay()
    world.clock.advance(hours=1)
    anchor_now(world, anchors)
    # When the older one is edited
    older = sorted(anchors._folder.glob("*.json"))[0]
    document: dict[str, Any] = json.loads(older.read_text())
    document["leaves"] = []
    older.write_text(json.dumps(document))
    # Then the anchor chain reports it
    assert verify_anchor_chain(anchors) == "anchor 2026-11-02T09 does not match its digest"


# --- S3 -----------------------------------------------------------------------------------------


def test_anchors_go_to_an_object_lock_bucket_and_read_back_newest_first(world: World) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="anchors", ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket="anchors",
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
            },
        )
        store = S3AnchorStore(s3, "anchors")
        world.pay()
        world.clock.advance(hours=1, minutes=5)
        assert run_anchoring(world.store, store, world.clock).anchors == ["2026-11-02T09"]
        world.clock.advance(hours=1)
        assert run_anchoring(world.store, store, world.clock).anchors == ["2026-11-02T10"]
        assert [d["anchor_id"] for d in store.newest_first()] == ["2026-11-02T10", "2026-11-02T09"]
        assert verify_anchor_chain(store) is None
        head = s3.head_object(Bucket="anchors", Key="anchors/2026-11-02T09.json")
        assert head["ObjectLockMode"] == "COMPLIANCE"
