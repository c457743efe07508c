"""Customer-managed keys: one per purpose, rotated, retained, used where they belong."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import Synthesized, arn_of

KEYS = ("Tables", "AuditFields", "Operations")


def _key_policy_statements(synthesized: Synthesized, key: str) -> list[dict[str, Any]]:
    resource = synthesized.resources[synthesized.logical_id(f"Keys/{key}/Resource")]
    statements: list[dict[str, Any]] = resource["Properties"]["KeyPolicy"]["Statement"]
    return statements


def test_three_keys(synthesized: Synthesized) -> None:
    assert len(synthesized.of_type("AWS::KMS::Key")) == len(KEYS)


@pytest.mark.parametrize("key", KEYS)
def test_key_rotates_and_outlives_the_stack(synthesized: Synthesized, key: str) -> None:
    resource = synthesized.resources[synthesized.logical_id(f"Keys/{key}/Resource")]

    assert resource["Properties"]["EnableKeyRotation"] is True
    assert resource["DeletionPolicy"] == "Retain"


def test_keys_have_stage_aliases(synthesized: Synthesized) -> None:
    aliases = {
        alias["Properties"]["AliasName"]
        for alias in synthesized.of_type("AWS::KMS::Alias").values()
    }

    assert aliases == {
        "alias/refund-service/dev/tables",
        "alias/refund-service/dev/audit-fields",
        "alias/refund-service/dev/operations",
    }


def test_audit_key_id_is_given_to_the_api(synthesized: Synthesized) -> None:
    audit_key = synthesized.logical_id("Keys/AuditFields/Resource")

    synthesized.assertions.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": {"AUDIT_KEY_ID": arn_of(audit_key)}}},
    )


def test_log_groups_are_encrypted_with_the_operations_key(synthesized: Synthesized) -> None:
    operations = arn_of(synthesized.logical_id("Keys/Operations/Resource"))

    for log_group in synthesized.of_type("AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["KmsKeyId"] == operations


def test_cloudwatch_logs_may_use_the_operations_key_for_this_account_only(
    synthesized: Synthesized,
) -> None:
    statements = _key_policy_statements(synthesized, "Operations")
    logs = next(s for s in statements if s.get("Sid") == "CloudWatchLogsOfThisAccount")

    assert "ArnLike" in logs["Condition"]
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]


def test_cloudwatch_alarms_may_encrypt_to_the_topic(synthesized: Synthesized) -> None:
    statements = _key_policy_statements(synthesized, "Operations")
    alarms = next(s for s in statements if s.get("Sid") == "CloudWatchAlarmsOfThisAccount")

    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(alarms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_processor_secret_is_encrypted_with_the_operations_key(synthesized: Synthesized) -> None:
    operations = arn_of(synthesized.logical_id("Keys/Operations/Resource"))

    synthesized.assertions.has_resource_properties(
        "AWS::SecretsManager::Secret", {"KmsKeyId": operations}
    )
