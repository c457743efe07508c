"""cdk-nag acknowledgements in the one form the validation report records."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

PACK = "AwsSolutions"


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Accept one AwsSolutions finding (e.g. `IAM5[Resource::*]`) on `scope` and its children."""
    rule_id = f"{PACK}::{PACK}-{finding}"
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
