"""The anchor bucket: hourly Merkle roots of the audit chain heads, under Object Lock.

Compliance mode: no one, the account root included, can overwrite or delete an anchor until
its retention ends, nor shorten the retention. Whoever can rewrite the audit table cannot
rewrite what was anchored, so `verify` finds a chain rewritten after its anchor. The bucket is
encrypted with the operations key (anchors hold hashes, nothing personal); the anchor function
may add anchors and read them, the verifier only read them.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.checkov import skip_check
from stacks.nag import acknowledge

# Financial records are commonly kept seven years; a compliance lock cannot be shortened.
RETENTION = Duration.days(7 * 365 + 2)
PREFIX = "anchors/"


class AnchorBucket(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(RETENTION),
            versioned=True,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.bucket,
            "S1",
            "Server access logs would add a second bucket for one hourly writer; every request "
            "is already in CloudTrail, and Object Lock makes each anchor immutable regardless.",
        )
        skip_check(
            self.bucket,
            "CKV_AWS_18",
            "Server access logs would add a second bucket for one hourly writer; every request "
            "is already in CloudTrail, and Object Lock makes each anchor immutable regardless.",
        )

    @property
    def objects_arn(self) -> str:
        return self.bucket.arn_for_objects(f"{PREFIX}*")

    def allow_reading(self, role: iam.IRole) -> None:
        """List and read the anchors (the verifier; the anchor function finds the latest)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringEquals": {"s3:prefix": PREFIX}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.objects_arn])
        )
        self._allow_key(role, ["kms:Decrypt"])
        self._acknowledge_prefix(role)

    def allow_anchoring(self, role: iam.IRole) -> None:
        """Add anchors, and read them to chain each to the last; never delete or re-lock."""
        self.allow_reading(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[self.objects_arn])
        )
        self._allow_key(role, ["kms:GenerateDataKey"])

    def _allow_key(self, role: iam.IRole, actions: list[str]) -> None:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=actions,
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            )
        )

    def _acknowledge_prefix(self, role: iam.IRole) -> None:
        acknowledge(
            role,
            f"IAM5[Resource::<{self._bucket_logical_id()}.Arn>/{PREFIX}*]",
            "Anchor objects are named by the hour they cover, so the grant names their prefix; "
            "Object Lock keeps every one of them immutable.",
        )

    def _bucket_logical_id(self) -> str:
        bucket = self.bucket.node.default_child
        assert isinstance(bucket, s3.CfnBucket)
        return str(Stack.of(self).resolve(bucket.logical_id))
