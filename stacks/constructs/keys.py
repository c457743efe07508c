"""Customer-managed KMS keys, each for one purpose, all rotated and retained.

Keys are retained with the tables: deleting a key would make the retained data unreadable.

The audit-fields key does not take CDK's default key policy (the account root holds `kms:*`,
so any administrator could decrypt the initiators' e-mails and addresses). Its policy is
written out: the account keeps administration only, the functions that seal fields may ask
for data keys, and one named break-glass role, if configured, may decrypt. Both uses are bound
to the encryption context the runtime sends. Procedure: docs/deploy.md.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from refund_service.adapters.kms_envelope import ENCRYPTION_CONTEXT

# What the account (and through IAM, its administrators and CloudFormation) may do with the
# audit-fields key: manage it, never use it. No kms:CreateGrant either: a grant is use.
KEY_ADMINISTRATION = (
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:RotateKeyOnDemand",
    "kms:UpdateKeyDescription",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)


def audit_context_condition() -> dict[str, dict[str, str]]:
    """Only requests carrying the runtime's encryption context (kms_envelope) may use the key."""
    return {
        "StringEquals": {
            f"kms:EncryptionContext:{name}": value for name, value in ENCRYPTION_CONTEXT.items()
        }
    }


class Keys(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage: str, audit_decryptor_role_arn: str = ""
    ) -> None:
        super().__init__(scope, construct_id)
        self._stage = stage
        self.tables = self._key("Tables", "tables", "DynamoDB tables: ledger, audit, idempotency")
        self.audit_fields = self._key(
            "AuditFields",
            "audit-fields",
            "Envelope key for sensitive audit-record fields",
            policy=_audit_fields_policy(audit_decryptor_role_arn),
        )
        self.operations = self._key(
            "Operations", "operations", "Log groups, alarm topic, dead-letter queues, secret"
        )
        self._allow_cloudwatch_logs(self.operations)
        self._allow_cloudwatch_alarms(self.operations)

    def _key(
        self,
        construct_id: str,
        alias: str,
        purpose: str,
        policy: iam.PolicyDocument | None = None,
    ) -> kms.Key:
        return kms.Key(
            self,
            construct_id,
            alias=f"alias/refund-service/{self._stage}/{alias}",
            description=f"refund-service ({self._stage}): {purpose}",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
            policy=policy,  # None: CDK's default, the account root with kms:*
        )

    def allow_audit_field_sealing(self, role: iam.IRole) -> None:
        """`role` may ask for data keys to seal audit fields; it can never decrypt them.

        The key policy must name the role itself: the account root holds no usage to delegate.
        """
        self.audit_fields.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey"],
                principals=[iam.ArnPrincipal(role.role_arn)],
                resources=["*"],
                conditions=audit_context_condition(),
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey"],
                resources=[self.audit_fields.key_arn],
                conditions=audit_context_condition(),
            )
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


def _audit_fields_policy(decryptor_role_arn: str) -> iam.PolicyDocument:
    statements = [
        iam.PolicyStatement(
            sid="AccountAdministersTheKeyButCannotUseIt",
            principals=[iam.AccountRootPrincipal()],
            actions=list(KEY_ADMINISTRATION),
            resources=["*"],
        )
    ]
    if decryptor_role_arn:
        statements.append(
            iam.PolicyStatement(
                sid="BreakGlassDecryptor",
                principals=[iam.ArnPrincipal(decryptor_role_arn)],
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions=audit_context_condition(),
            )
        )
    return iam.PolicyDocument(statements=statements)
