"""Customer-managed keys: one per purpose, rotated, retained, used where they belong."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from refund_service.adapters.kms_envelope import ENCRYPTION_CONTEXT
from stacks.app import build
from stacks.constructs.keys import Keys
from tests.infra.conftest import Synthesized, arn_of, cdk_json_context

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


# --- the audit-fields key: administered by the account, used only by whom it names ---------

DECRYPTOR = "arn:aws:iam::123456789012:role/break-glass/AuditFieldDecryptor"
USAGE = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:CreateGrant",
)
CONTEXT_CONDITION = {
    "StringEquals": {
        f"kms:EncryptionContext:{name}": value for name, value in ENCRYPTION_CONTEXT.items()
    }
}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allows(statement: dict[str, Any], action: str) -> bool:
    return statement["Effect"] == "Allow" and any(
        fnmatch.fnmatchcase(action.lower(), pattern.lower())
        for pattern in _listed(statement["Action"])
    )


def _is_root(principal: Any) -> bool:
    return ":root" in json.dumps(principal)


def test_account_root_administers_the_audit_key_but_cannot_use_it(
    synthesized: Synthesized,
) -> None:
    statements = _key_policy_statements(synthesized, "AuditFields")
    (root,) = [s for s in statements if _is_root(s["Principal"])]

    assert "kms:PutKeyPolicy" in root["Action"]
    assert "kms:ScheduleKeyDeletion" in root["Action"]
    assert [action for action in USAGE if _allows(root, action)] == []


def test_without_a_decryptor_nobody_may_decrypt_audit_fields(synthesized: Synthesized) -> None:
    statements = _key_policy_statements(synthesized, "AuditFields")

    assert [s for s in statements if _allows(s, "kms:Decrypt")] == []


def test_only_the_api_role_may_seal_and_only_with_the_runtime_context(
    synthesized: Synthesized,
) -> None:
    api_role = arn_of(synthesized.logical_id("Functions/Api/Role/Resource"))
    statements = _key_policy_statements(synthesized, "AuditFields")

    (sealing,) = [s for s in statements if _allows(s, "kms:GenerateDataKey")]
    assert sealing["Principal"] == {"AWS": api_role}
    assert sealing["Action"] == "kms:GenerateDataKey"
    assert sealing["Condition"] == CONTEXT_CONDITION


def test_no_identity_policy_may_decrypt_audit_fields(synthesized: Synthesized) -> None:
    audit_key = json.dumps(arn_of(synthesized.logical_id("Keys/AuditFields/Resource")))
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if audit_key in json.dumps(statement.get("Resource")):
                assert not _allows(statement, "kms:Decrypt"), statement
                assert statement["Condition"] == CONTEXT_CONDITION


def _audit_key_policy(stack: Stack) -> dict[str, Any]:
    keys = Template.from_stack(stack).find_resources("AWS::KMS::Key")
    (audit_key,) = [
        key for key in keys.values() if "audit-record" in key["Properties"]["Description"]
    ]
    policy: dict[str, Any] = audit_key["Properties"]["KeyPolicy"]
    return policy


def test_the_named_decryptor_alone_may_decrypt_with_the_runtime_context() -> None:
    stack = Stack(App(), "KeysOnly")
    Keys(stack, "Keys", stage="dev", audit_decryptor_role_arn=DECRYPTOR)

    statements = _audit_key_policy(stack)["Statement"]

    (decrypting,) = [s for s in statements if _allows(s, "kms:Decrypt")]
    assert decrypting["Principal"] == {"AWS": DECRYPTOR}
    assert decrypting["Action"] == "kms:Decrypt"
    assert decrypting["Condition"] == CONTEXT_CONDITION
    assert not any(_allows(s, "kms:Decrypt") for s in statements if _is_root(s["Principal"]))


def test_the_decryptor_comes_from_context() -> None:
    app = App(context={**cdk_json_context(), "audit_decryptor_role_arn": DECRYPTOR})

    stack = build(app)

    assert DECRYPTOR in json.dumps(_audit_key_policy(stack))
