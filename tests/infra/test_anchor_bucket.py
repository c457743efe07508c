"""The anchor bucket: Object Lock in compliance mode, private, encrypted; nobody may delete
an anchor or change its retention."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized

# What would let someone remove, replace early or unlock an anchor.
ANCHOR_DESTROYING = (
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutLifecycleConfiguration",
)


def _bucket(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.resources[synthesized.logical_id("Anchors/Bucket/Resource")]


def test_the_bucket_locks_every_object_in_compliance_mode(synthesized: Synthesized) -> None:
    properties = _bucket(synthesized)["Properties"]

    assert properties["ObjectLockEnabled"] is True
    retention = properties["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert retention["Mode"] == "COMPLIANCE"
    assert retention["Days"] >= 7 * 365
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}


def test_the_bucket_is_private_encrypted_and_kept(synthesized: Synthesized) -> None:
    bucket = _bucket(synthesized)
    properties = bucket["Properties"]
    operations_key = synthesized.logical_id("Keys/Operations/Resource")

    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [operations_key, "Arn"]},
    }
    assert bucket["DeletionPolicy"] == "Retain"


def test_the_bucket_refuses_requests_without_tls(synthesized: Synthesized) -> None:
    synthesized.assertions.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_no_policy_lets_anyone_delete_or_unlock_an_anchor(synthesized: Synthesized) -> None:
    offending = []
    for kind in ("AWS::IAM::Policy", "AWS::S3::BucketPolicy"):
        for resource in synthesized.of_type(kind).values():
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                if statement["Effect"] != "Allow":
                    continue
                actions = statement["Action"]
                actions = actions if isinstance(actions, list) else [actions]
                if any(a in ANCHOR_DESTROYING or a in ("s3:*", "*") for a in actions):
                    offending.append(statement)

    assert offending == []


def test_the_anchor_function_may_list_only_the_anchor_prefix(synthesized: Synthesized) -> None:
    policy_id = synthesized.logical_id("Functions/Anchor/Role/DefaultPolicy/Resource")
    statements = synthesized.resources[policy_id]["Properties"]["PolicyDocument"]["Statement"]
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucket"]

    assert listing["Condition"] == {"StringEquals": {"s3:prefix": "anchors/"}}
    through_s3: set[str] = set()
    for statement in statements:
        if "s3." in json.dumps(statement.get("Condition", {}).get("StringEquals", {})):
            actions = statement["Action"]
            through_s3.update(actions if isinstance(actions, list) else [actions])
    assert through_s3 == {"kms:Decrypt", "kms:GenerateDataKey"}
