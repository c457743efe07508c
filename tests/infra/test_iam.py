"""Least privilege: each role holds exactly what its function uses, and nobody can delete history.

Expected grants are written out here by hand, not derived from the stack's own tables of
actions, so a change on either side shows up as a difference.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.app import build
from tests.infra.conftest import REPO_ROOT, Synthesized, arn_of, cdk_json_context

# What each function's code calls, by resource. The ledger store reads with Query, GetItem and
# BatchGetItem (a refund's reads, decision 0025) and writes every change as conditional Puts in
# one TransactWriteItems (ledger and audit), with a ConditionCheck for a keyed refusal (API).
TABLE_KEY_WRITES = {
    "key:tables": {"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"}
}
DEAD_LETTERS = {
    "dead-letter-queue": {"sqs:SendMessage"},
    "key:operations": {"kms:GenerateDataKey", "kms:Decrypt"},
}
# With the simulated processor (cdk.json's): its memory is in the idempotency table.
EXPECTED_DATA_GRANTS = {
    "Api": {
        # load, find_payment (POST /transactions), a refund's reads, commit, a keyed
        # refusal's check of its key's pointer; GET /refunds/{id}
        "ledger": {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:ConditionCheckItem",
        },
        "ledger/index/refund-id": {"dynamodb:Query"},
        # GET .../audit, commit
        "audit": {"dynamodb:Query", "dynamodb:PutItem"},
        # Powertools idempotency (all four); the simulated processor's refund and lookup
        "idempotency": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        },
        **TABLE_KEY_WRITES,
        "key:audit-fields": {"kms:GenerateDataKey"},
        # a refund's FX quote: the requested day, else the latest stored before it
        "fx-rates": {"dynamodb:GetItem", "dynamodb:Query"},
    },
    "Webhooks": {
        # load, find_payment (disputes), find_refund, settling's reads, commit
        "ledger": {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
        },
        "ledger/index/refund-id": {"dynamodb:Query"},
        "audit": {"dynamodb:PutItem"},
        # the event log: seen, remember; the simulated processor's lookup: get, settle
        "idempotency": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        **TABLE_KEY_WRITES,
    },
    "Reconciler": {
        # pending_refunds, load, settling's reads, commit
        "ledger": {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
        },
        "ledger/index/pending-refunds": {"dynamodb:Query"},
        "audit": {"dynamodb:PutItem"},
        # the simulated processor's lookup: get, settle a pending one; its lease and cursor
        "idempotency": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        **TABLE_KEY_WRITES,
        **DEAD_LETTERS,
    },
    "Verifier": {
        "ledger": {"dynamodb:Query", "dynamodb:Scan"},
        "audit": {"dynamodb:Query"},
        # its lease and segment checkpoints (only `lease#`/`checkpoint#` items)
        "idempotency": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "bucket:anchors": {"s3:ListBucket"},
        "bucket:anchors/anchors/*": {"s3:GetObject"},
        **TABLE_KEY_WRITES,
        **DEAD_LETTERS,
    },
    "StreamPublisher": {
        # verify each changed transaction: load, audit_records
        "ledger": {"dynamodb:Query"},
        "audit": {"dynamodb:Query"},
        "ledger-stream": {
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
        },
        "event-bus": {"events:PutEvents"},
        "stream-failures": {"sqs:SendMessage"},
        "key:operations": {"kms:GenerateDataKey", "kms:Decrypt"},
        "key:tables": {"kms:Decrypt", "kms:DescribeKey"},
    },
    "ProcessorReconciler": {
        # find_refund, load, settling's reads, commit
        "ledger": {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
        },
        "ledger/index/refund-id": {"dynamodb:Query"},
        "audit": {"dynamodb:PutItem"},
        # the simulated processor's listing (minute items, records) and lookup (get, settle)
        "idempotency": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"},
        **TABLE_KEY_WRITES,
        **DEAD_LETTERS,
    },
    "FxRates": {
        # store each day; the newest stored day, for the age metric
        "fx-rates": {"dynamodb:PutItem", "dynamodb:Query"},
        **TABLE_KEY_WRITES,
        **DEAD_LETTERS,
    },
    "Anchor": {
        # heads_changed_in: the sparse index only, never the table itself
        "ledger/index/chain-heads-by-hour": {"dynamodb:Query"},
        "key:tables": {"kms:Decrypt", "kms:DescribeKey"},
        # the latest anchor to chain to, and the new one (operations key: GenerateDataKey,
        # Decrypt, in DEAD_LETTERS); no delete, no retention change
        "bucket:anchors": {"s3:ListBucket"},
        "bucket:anchors/anchors/*": {"s3:GetObject", "s3:PutObject"},
        **DEAD_LETTERS,
    },
}
# With a real processor: its secret instead of the simulator's memory.
SECRET = {"secret": {"secretsmanager:GetSecretValue"}}
EXPECTED_WITH_STRIPE = {
    "Api": {**EXPECTED_DATA_GRANTS["Api"], **SECRET},  # idempotency: Powertools' own
    "Webhooks": {  # signature keys; the event log only
        **EXPECTED_DATA_GRANTS["Webhooks"],
        "idempotency": {"dynamodb:GetItem", "dynamodb:PutItem"},
        **SECRET,
    },
    # the lease and cursor stay in the idempotency table
    "Reconciler": {**EXPECTED_DATA_GRANTS["Reconciler"], **SECRET},
    "Verifier": EXPECTED_DATA_GRANTS["Verifier"],
    "ProcessorReconciler": {
        **{
            k: v
            for k, v in EXPECTED_DATA_GRANTS["ProcessorReconciler"].items()
            if k != "idempotency"
        },
        **SECRET,
    },
    "FxRates": EXPECTED_DATA_GRANTS["FxRates"],
    "StreamPublisher": EXPECTED_DATA_GRANTS["StreamPublisher"],
    "Anchor": EXPECTED_DATA_GRANTS["Anchor"],
}
FUNCTIONS = tuple(EXPECTED_DATA_GRANTS)
SCHEDULED = ("Reconciler", "Verifier", "ProcessorReconciler", "FxRates", "Anchor")
HISTORY_DESTROYING = ("dynamodb:DeleteItem", "dynamodb:BatchWriteItem")


def _labels(synthesized: Synthesized, function: str) -> dict[str, str]:
    """Readable names for the resources a function's policy may name."""
    ids = {
        "ledger": "Tables/PaymentLedger/Resource",
        "audit": "Tables/PaymentAuditTrail/Resource",
        "idempotency": "Tables/Idempotency/Resource",
        "fx-rates": "Tables/FxRates/Resource",
        "key:tables": "Keys/Tables/Resource",
        "key:audit-fields": "Keys/AuditFields/Resource",
        "key:operations": "Keys/Operations/Resource",
        "log-group": f"Functions/{function}/Logs/Resource",
        "bucket:anchors": "Anchors/Bucket/Resource",
    }
    labels = {
        json.dumps({"Fn::GetAtt": [synthesized.logical_id(path), "Arn"]}): label
        for label, path in ids.items()
    }
    secret = synthesized.logical_id("ProcessorSecret/Secret/Resource")
    labels[json.dumps({"Ref": secret})] = "secret"
    ledger = synthesized.logical_id("Tables/PaymentLedger/Resource")
    labels[json.dumps({"Fn::GetAtt": [ledger, "StreamArn"]})] = "ledger-stream"
    bus = synthesized.logical_id("Events/Bus/Resource")
    labels[json.dumps({"Fn::GetAtt": [bus, "Arn"]})] = "event-bus"
    failures = synthesized.logical_id("ChangeStream/FailedDeliveries/Resource")
    labels[json.dumps({"Fn::GetAtt": [failures, "Arn"]})] = "stream-failures"
    if function in SCHEDULED:
        queue = synthesized.logical_id(f"Functions/{function}/DeadLetterQueue/Resource")
        labels[json.dumps({"Fn::GetAtt": [queue, "Arn"]})] = "dead-letter-queue"
    return labels


def _label(resource: Any, labels: dict[str, str]) -> str:
    if resource == "*":
        return "*"
    join = resource.get("Fn::Join") if isinstance(resource, dict) else None
    if join and len(join[1]) == 2 and str(join[1][1]).startswith(("/index/", "/anchors/")):
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


@pytest.fixture(scope="module")
def with_stripe() -> Synthesized:
    """The stack for a real processor: only what differs in IAM is looked at."""
    context = {
        **cdk_json_context(),
        "processor": "stripe",
        "aws:cdk:enable-path-metadata": True,
    }
    stack = build(App(context=context))
    template = Template.from_stack(stack).to_json()
    return Synthesized(Path(), stack.stack_name, template, {}, None)


def _data_grants(synthesized: Synthesized, function: str) -> dict[str, set[str]]:
    grants = _role_grants(synthesized, function)
    assert grants.pop("log-group") == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert grants.pop("*") == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    return grants


@pytest.mark.parametrize("function", FUNCTIONS)
def test_role_grants_exactly_what_the_function_uses(
    synthesized: Synthesized, function: str
) -> None:
    assert _data_grants(synthesized, function) == EXPECTED_DATA_GRANTS[function]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_with_a_real_processor_the_secret_replaces_the_simulator(
    with_stripe: Synthesized, function: str
) -> None:
    assert _data_grants(with_stripe, function) == EXPECTED_WITH_STRIPE[function]


def test_secret_readers_may_decrypt_it_only_through_secrets_manager(
    with_stripe: Synthesized,
) -> None:
    key = with_stripe.resources[with_stripe.logical_id("Keys/Operations/Resource")]
    role_arns = {
        json.dumps(arn_of(with_stripe.logical_id(f"Functions/{function}/Role/Resource"))): function
        for function in FUNCTIONS
    }
    readers: dict[str, Any] = {}
    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        for principal in _listed(statement["Principal"].get("AWS", [])):
            if json.dumps(principal) in role_arns:
                readers[role_arns[json.dumps(principal)]] = statement

    assert set(readers) == {"Api", "Webhooks", "Reconciler", "ProcessorReconciler"}
    for statement in readers.values():
        assert statement["Action"] == "kms:Decrypt"
        assert "secretsmanager." in json.dumps(statement["Condition"]["StringEquals"])


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


# Every DynamoDB call in the runtime, by module: the grants above are written from this list.
# A call added here needs its grant in stacks/constructs/functions.py (and above), or the
# function fails with AccessDenied in AWS while every local test passes.
RUNTIME_DYNAMODB_CALLS = {
    "adapters/dynamodb/ledger_store.py": {
        "query",
        "get_item",
        "batch_get_item",
        "scan",
        "transact_write_items",
    },
    "adapters/dynamodb/event_log.py": {"get_item", "put_item"},
    "adapters/processors/simulated.py": {"batch_get_item", "get_item", "put_item", "update_item"},
    "adapters/dynamodb/fx_rates.py": {"get_item", "put_item", "query"},
    "adapters/dynamodb/coordination.py": {"get_item", "update_item"},
    "adapters/dynamodb/pending_window.py": {"query"},
    "adapters/dynamodb/segment_scan.py": {"scan"},
}
# The ledger store's TransactWriteItems: conditional Puts, and a keyed refusal's ConditionCheck
# of its key's pointer (ConditionCheckItem, granted to the API only).
TRANSACT_ITEM_KINDS = {"Put", "ConditionCheck"}
_CLIENT_CALL = re.compile(
    r"\.(get_item|put_item|update_item|delete_item|query|scan|batch_get_item|"
    r"batch_write_item|transact_write_items|transact_get_items|execute_statement)\("
)
_TRANSACT_KIND = re.compile(r"""\{\s*["'](Put|Update|Delete|ConditionCheck)["']\s*:""")


def test_the_runtime_makes_only_the_dynamodb_calls_the_grants_were_written_for() -> None:
    runtime = REPO_ROOT / "runtime" / "refund_service"
    calls = {
        str(path.relative_to(runtime)): set(_CLIENT_CALL.findall(path.read_text()))
        for path in sorted(runtime.rglob("*.py"))
    }

    assert {module: found for module, found in calls.items() if found} == RUNTIME_DYNAMODB_CALLS
    ledger_store = (runtime / "adapters/dynamodb/ledger_store.py").read_text()
    assert set(_TRANSACT_KIND.findall(ledger_store)) == TRANSACT_ITEM_KINDS
