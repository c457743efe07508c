"""Customer-managed KMS keys, each for one purpose, all rotated and retained.

Keys are retained with the tables: deleting a key would make the retained data unreadable.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class Keys(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: str) -> None:
        super().__init__(scope, construct_id)
        self._stage = stage
        self.tables = self._key("Tables", "tables", "DynamoDB tables: ledger, audit, idempotency")
        self.audit_fields = self._key(
            "AuditFields", "audit-fields", "Envelope key for sensitive audit-record fields"
        )
        self.operations = self._key(
            "Operations", "operations", "Log groups, alarm topic, dead-letter queues, secret"
        )
        self._allow_cloudwatch_logs(self.operations)
        self._allow_cloudwatch_alarms(self.operations)

    def _key(self, construct_id: str, alias: str, purpose: str) -> kms.Key:
        return kms.Key(
            self,
            construct_id,
            alias=f"alias/refund-service/{self._stage}/{alias}",
            description=f"refund-service ({self._stage}): {purpose}",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

    @staticmethod
    def _allow_cloudwatch_logs(key: kms.Key) -> None:
        """Encrypted log groups: CloudWatch Logs uses the key for this account's log groups only."""
        log_groups = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )

    @staticmethod
    def _allow_cloudwatch_alarms(key: kms.Key) -> None:
        """Alarms publish to the encrypted topic, so CloudWatch needs the key to encrypt."""
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
