"""The anchor function and the verifier's use of anchors: where anchors go, what is reported."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from refund_service.adapters.anchor_stores import FolderAnchorStore, S3AnchorStore
from refund_service.adapters.dynamodb import codec
from refund_service.bootstrap import build_anchor_store
from refund_service.domain.audit import ChainHead, chain
from refund_service.handlers import anchor, verifier
from refund_service.settings import AnchorLocation, AnchorSettings, SettingsError
from tests.support.world import World


def test_the_local_folder_wins_over_a_bucket_and_nothing_configured_is_none(
    tmp_path: Path,
) -> None:
    with mock_aws():
        assert isinstance(
            build_anchor_store(AnchorLocation(anchor_bucket="b", anchor_folder=str(tmp_path))),
            FolderAnchorStore,
        )
        assert isinstance(build_anchor_store(AnchorLocation(anchor_bucket="b")), S3AnchorStore)
    assert build_anchor_store(AnchorLocation()) is None


def test_the_function_refuses_to_run_with_nowhere_to_anchor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_TABLE_NAME", "PaymentLedger")
    monkeypatch.delenv("ANCHOR_BUCKET_NAME", raising=False)
    monkeypatch.delenv("ANCHOR_FOLDER", raising=False)
    anchor.runtime.cache_clear()
    with pytest.raises(SettingsError, match="ANCHOR_BUCKET_NAME"):
        anchor.runtime()
    assert anchor.SETTINGS is AnchorSettings


def test_a_run_reports_the_hours_and_heads_it_anchored(world: World, tmp_path: Path) -> None:
    # Given two payments at 09:00
    world.pay()
    world.pay()
    world.clock.advance(hours=1, minutes=10)
    # When the function runs at 10:10
    result = anchor.run_once(world.store, FolderAnchorStore(tmp_path), world.clock)
    # Then it anchored 09:00-10:00 with both heads, in a file under the folder
    assert result == {"anchors": ["2026-11-02T09"], "heads": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["2026-11-02T09.json"]


def test_the_verifier_reports_a_chain_that_disagrees_with_its_anchor(
    world: World, tmp_path: Path
) -> None:
    # Given an anchored payment whose first audit record was then rewritten, hash included
    tid = world.pay()
    world.clock.advance(hours=1, minutes=10)
    anchors = FolderAnchorStore(tmp_path)
    anchor.run_once(world.store, anchors, world.clock)
    (record,) = world.store.audit_records(tid)
    (forged,), head = chain(ChainHead(), [replace(record, amount=1)])
    world.client.put_item(
        TableName=world.tables["PaymentAuditTrail"],
        Item=codec.serialize(codec.audit_to_item(forged)),
    )
    world.client.update_item(
        TableName=world.tables["PaymentLedger"],
        Key={"pk": {"S": f"TXN#{tid}"}, "sk": {"S": "HEAD"}},
        UpdateExpression="SET audit_hash = :h",
        ExpressionAttributeValues={":h": {"S": head.hash}},
    )
    # When the verifier runs with the anchors
    result = verifier.verify_one(world.store, tid, anchors)
    # Then it counts the transaction as an anchor mismatch and names the anchor
    assert result["mismatches"] == result["anchor_mismatches"] == 1
    assert result["first_mismatch"]["transaction_id"] == tid
    assert result["first_mismatch"]["chain_valid"] is True
    assert result["first_mismatch"]["anchor_id"] == "2026-11-02T09"
    # And without anchors the same chain passes: only the anchor sees the rewrite
    assert verifier.verify_one(world.store, tid)["mismatches"] == 0


def test_s3_anchors_are_written_with_a_checksum(world: World) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="anchors", ObjectLockEnabledForBucket=True)
        world.pay()
        world.clock.advance(hours=1, minutes=10)
        anchor.run_once(world.store, S3AnchorStore(s3, "anchors"), world.clock)
        attributes = s3.get_object_attributes(
            Bucket="anchors", Key="anchors/2026-11-02T09.json", ObjectAttributes=["Checksum"]
        )
        assert "ChecksumSHA256" in attributes["Checksum"]
