"""Least privilege: each role holds exactly what its function uses, and nobody can delete history.

Expected grants are written out here by hand, not derived from the stack's own tables of
actions, so a change on either side shows up as a difference.
"""

from __future__ import annotations

import fnmatch
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from tests.infra.conftest import Synthesized

LEDGER_WRITER = {
    "ledger": {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
    },
    "ledger/index/refund-id": {"dynamodb:Query"},
    "ledger/index/pending-refunds": {"dynamodb:Query"},
    "audit": {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"},
    "audit/index/by-initiator": {"dynamodb:Query"},
    "idempotency": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    },
    "key:tables": {"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"},
    "secret": {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
}
DEAD_LETTERS = {
    "dead-letter-queue": {"sqs:SendMessage"},
    "key:operations": {"kms:GenerateDataKey", "kms:Decrypt"},
}
EXPECTED_DATA_GRANTS = {
    "Api": {**LEDGER_WRITER, "key:audit-fields": {"kms:GenerateDataKey"}},
    "Webhooks": LEDGER_WRITER,
    "Reconciler": {**LEDGER_WRITER, **DEAD_LETTERS},
    "Verifier": {
        "ledger": {"dynamodb:Query", "dynamodb:Scan"},
        "audit": {"dynamodb:Query"},
        "key:tables": {"kms:Decrypt", "kms:DescribeKey"},
        **DEAD_LETTERS,
    },
    # Finds a refund by id, loads its transaction, books a payout with conditional Puts.
    "ProcessorReconciler": {
        "ledger": {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"},
        "ledger/index/refund-id": {"dynamodb:Query"},
        "audit": {"dynamodb:PutItem"},
        "key:tables": {"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"},
        "secret": {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
        **DEAD_LETTERS,
    },
}
FUNCTIONS = tuple(EXPECTED_DATA_GRANTS)
HISTORY_DESTROYING = ("dynamodb:DeleteItem", "dynamodb:BatchWriteItem")


def _labels(synthesized: Synthesized, function: str) -> dict[str, str]:
    """Readable names for the resources a function's policy may name."""
    ids = {
        "ledger": "Tables/PaymentLedger/Resource",
        "audit": "Tables/PaymentAuditTrail/Resource",
        "idempotency": "Tables/Idempotency/Resource",
        "key:tables": "Keys/Tables/Resource",
        "key:audit-fields": "Keys/AuditFields/Resource",
        "key:operations": "Keys/Operations/Resource",
        "log-group": f"Functions/{function}/Logs/Resource",
    }
    labels = {
        json.dumps({"Fn::GetAtt": [synthesized.logical_id(path), "Arn"]}): label
        for label, path in ids.items()
    }
    secret = synthesized.logical_id("ProcessorSecret/Secret/Resource")
    labels[json.dumps({"Ref": secret})] = "secret"
    if function in ("Reconciler", "Verifier", "ProcessorReconciler"):
        queue = synthesized.logical_id(f"Functions/{function}/DeadLetterQueue/Resource")
        labels[json.dumps({"Fn::GetAtt": [queue, "Arn"]})] = "dead-letter-queue"
    return labels


def _label(resource: Any, labels: dict[str, str]) -> str:
    if resource == "*":
        return "*"
    join = resource.get("Fn::Join") if isinstance(resource, dict) else None
    if join and len(join[1]) == 2 and str(join[1][1]).startswith("/index/"):
        return labels[json.dumps(join[1][0])] + str(join[1][1])
    return labels.get(json.dumps(resource), json.dumps(resource))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_grants(synthesized: Synthesized, function: str) -> dict[str, set[str]]:
    policy_id = synthesized.logical_id(f"Functions/{function}/Role/DefaultPolicy/Resource")
    policy = synthesized.resources[policy_id]["Properties"]["PolicyDocument"]
    labels = _labels(synthesized, function)
    grants: dict[str, set[str]] = defaultdict(set)
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for resource in _listed(statement["Resource"]):
            grants[_label(resource, labels)].update(_listed(statement["Action"]))
    return dict(grants)


def _all_allow_statements(synthesized: Synthesized) -> Iterator[dict[str, Any]]:
    """Every Allow statement of every identity policy in the template, inline ones included."""
    for resource in synthesized.resources.values():
        documents = []
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(resource["Properties"]["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
        for document in documents:
            for statement in document["Statement"]:
                if statement["Effect"] == "Allow":
                    yield statement


def _allows(statement: dict[str, Any], action: str) -> bool:
    return any(
        fnmatch.fnmatchcase(action.lower(), pattern.lower())
        for pattern in _listed(statement.get("Action", []))
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_role_grants_exactly_what_the_function_uses(
    synthesized: Synthesized, function: str
) -> None:
    grants = _role_grants(synthesized, function)

    assert grants.pop("log-group") == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert grants.pop("*") == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert grants == EXPECTED_DATA_GRANTS[function]


def test_no_role_can_delete_or_batch_write_ledger_or_audit(synthesized: Synthesized) -> None:
    protected = {
        json.dumps({"Fn::GetAtt": [synthesized.logical_id(f"Tables/{table}/Resource"), "Arn"]})
        for table in ("PaymentLedger", "PaymentAuditTrail")
    }
    offending = []
    for statement in _all_allow_statements(synthesized):
        resources = json.dumps(statement.get("Resource", "*"))
        names_protected = statement.get("Resource") == "*" or any(
            table in resources for table in protected
        )
        if names_protected and any(_allows(statement, a) for a in HISTORY_DESTROYING):
            offending.append(statement)

    assert offending == []


def test_only_the_verifier_scans(synthesized: Synthesized) -> None:
    scanners = [
        function
        for function in FUNCTIONS
        if "dynamodb:Scan" in set().union(*_role_grants(synthesized, function).values())
    ]

    assert scanners == ["Verifier"]


def test_no_dynamodb_or_kms_action_on_every_resource(synthesized: Synthesized) -> None:
    for statement in _all_allow_statements(synthesized):
        if statement.get("Resource") == "*":
            actions = _listed(statement["Action"])
            assert not [a for a in actions if a.startswith(("dynamodb:", "kms:"))], statement


def test_table_key_is_usable_only_through_dynamodb(synthesized: Synthesized) -> None:
    tables_key = json.dumps({"Fn::GetAtt": [synthesized.logical_id("Keys/Tables/Resource"), "Arn"]})
    for statement in _all_allow_statements(synthesized):
        if json.dumps(statement.get("Resource")) == tables_key:
            via = statement["Condition"]["StringEquals"]["kms:ViaService"]
            assert "dynamodb." in json.dumps(via)


def test_function_roles_trust_lambda_only_and_attach_no_managed_policy(
    synthesized: Synthesized,
) -> None:
    for function in FUNCTIONS:
        role_id = synthesized.logical_id(f"Functions/{function}/Role/Resource")
        role = synthesized.resources[role_id]["Properties"]

        principals = [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
        assert principals == [{"Service": "lambda.amazonaws.com"}]
        assert "ManagedPolicyArns" not in role
