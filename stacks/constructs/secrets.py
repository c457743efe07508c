"""The processor credentials: one Secrets Manager secret, always created, KMS-encrypted.

It starts as a JSON template naming the keys the configured processor needs, empty; for Stripe
or Adyen the operator puts the vendor's keys in after the first deploy.
CloudFormation writes the value only when it creates the secret, so redeploys never overwrite
what the operator stored.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from refund_service.adapters.processors.credentials import REQUIRED_SECRET_KEYS
from stacks.nag import acknowledge

# Secrets Manager creates the secret with one generated value so that no value is in the
# template; the service reads only the vendor keys.
GENERATED_FIELD = "generated_at_creation"


class ProcessorSecret(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, processor: str
    ) -> None:
        super().__init__(scope, construct_id)
        self._key = key
        template = {"processor": processor, **dict.fromkeys(REQUIRED_SECRET_KEYS[processor], "")}
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description=f"refund-service processor credentials ({processor})",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(template),
                generate_string_key=GENERATED_FIELD,
                exclude_punctuation=True,
                password_length=48,
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.secret,
            "SMG4",
            "Holds processor API keys issued by Stripe or Adyen; they can only be rotated in "
            "the vendor's dashboard, so a Secrets Manager rotation function has nothing to call.",
        )

    def grant_value_read(self, role: iam.IRole) -> None:
        """GetSecretValue only (Powertools' get_secret calls nothing else), and the key's
        decryption through Secrets Manager."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"], resources=[self.secret.secret_arn]
            )
        )
        self._key.grant_decrypt(
            kms.ViaServicePrincipal(f"secretsmanager.{Aws.REGION}.amazonaws.com", role)
        )
