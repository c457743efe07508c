"""The six functions: runtime, architecture, layer, tracing, logs, dead-letter queues, secret."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from stacks.config import POWERTOOLS_LAYER_VERSION
from stacks.constructs.functions import FUNCTIONS, LIVE_ALIAS, FunctionSpec
from stacks.constructs.secrets import GENERATED_FIELD
from tests.infra.conftest import REPO_ROOT, Synthesized, arn_of, ref

SCHEDULED = [spec for spec in FUNCTIONS if spec.scheduled]


def function_of(synthesized: Synthesized, spec: FunctionSpec) -> dict[str, Any]:
    logical_id = synthesized.logical_id(f"Functions/{spec.construct_id}/Function/Resource")
    return synthesized.resources[logical_id]


def test_eight_functions(synthesized: Synthesized) -> None:
    assert len(synthesized.of_type("AWS::Lambda::Function")) == len(FUNCTIONS) == 8


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_function_runs_current_python_on_arm_with_tracing(
    synthesized: Synthesized, spec: FunctionSpec
) -> None:
    properties = function_of(synthesized, spec)["Properties"]

    assert properties["Runtime"] == "python3.14"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == spec.handler
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["Timeout"] == spec.timeout.to_seconds()


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_function_has_its_own_role(synthesized: Synthesized, spec: FunctionSpec) -> None:
    role = synthesized.logical_id(f"Functions/{spec.construct_id}/Role/Resource")

    assert function_of(synthesized, spec)["Properties"]["Role"] == arn_of(role)


def test_no_two_functions_share_a_role(synthesized: Synthesized) -> None:
    roles = [
        json.dumps(fn["Properties"]["Role"])
        for fn in synthesized.of_type("AWS::Lambda::Function").values()
    ]

    assert len(set(roles)) == len(roles)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_function_logs_to_its_own_encrypted_log_group(
    synthesized: Synthesized, spec: FunctionSpec
) -> None:
    log_group_id = synthesized.logical_id(f"Functions/{spec.construct_id}/Logs/Resource")
    log_group = synthesized.resources[log_group_id]

    logging = function_of(synthesized, spec)["Properties"]["LoggingConfig"]
    assert logging["LogGroup"] == ref(log_group_id)
    assert log_group["Properties"]["RetentionInDays"] == 90  # cdk.json's log_retention_days
    assert "KmsKeyId" in log_group["Properties"]


def test_powertools_layer_is_the_release_pinned_in_requirements(synthesized: Synthesized) -> None:
    # Given the Powertools version the functions are written and tested against
    requirements = (REPO_ROOT / "requirements.txt").read_text()
    pinned = re.search(r"^aws-lambda-powertools(\[[^\]]*\])?==(\S+)$", requirements, re.M)
    assert pinned is not None

    # Then the stack asks for the layer of exactly that release, arm64, python3.14
    assert pinned.group(2) == POWERTOOLS_LAYER_VERSION
    parameter_path = f"/aws/service/powertools/python/arm64/python3.14/{POWERTOOLS_LAYER_VERSION}"
    parameters = {
        name: parameter
        for name, parameter in synthesized.template["Parameters"].items()
        if parameter.get("Default") == parameter_path
    }
    assert len(parameters) == 1
    (layer_parameter,) = parameters
    assert parameters[layer_parameter]["Type"] == "AWS::SSM::Parameter::Value<String>"
    for spec in FUNCTIONS:
        assert function_of(synthesized, spec)["Properties"]["Layers"] == [ref(layer_parameter)]


def test_all_functions_share_one_code_asset(synthesized: Synthesized) -> None:
    keys = {
        fn["Properties"]["Code"]["S3Key"]
        for fn in synthesized.of_type("AWS::Lambda::Function").values()
    }

    assert len(keys) == 1


@pytest.mark.parametrize("spec", SCHEDULED, ids=lambda spec: spec.construct_id)
def test_scheduled_function_has_an_encrypted_dead_letter_queue(
    synthesized: Synthesized, spec: FunctionSpec
) -> None:
    queue_id = synthesized.logical_id(f"Functions/{spec.construct_id}/DeadLetterQueue/Resource")
    queue = synthesized.resources[queue_id]
    operations = arn_of(synthesized.logical_id("Keys/Operations/Resource"))

    dead_letter = function_of(synthesized, spec)["Properties"]["DeadLetterConfig"]
    assert dead_letter == {"TargetArn": arn_of(queue_id)}
    assert queue["Properties"]["KmsMasterKeyId"] == operations
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


@pytest.mark.parametrize("spec", SCHEDULED, ids=lambda spec: spec.construct_id)
def test_dead_letter_queue_refuses_plain_http(synthesized: Synthesized, spec: FunctionSpec) -> None:
    queue_id = synthesized.logical_id(f"Functions/{spec.construct_id}/DeadLetterQueue/Resource")
    policies = [
        policy
        for policy in synthesized.of_type("AWS::SQS::QueuePolicy").values()
        if ref(queue_id) in policy["Properties"]["Queues"]
    ]

    statements = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


def test_request_functions_have_no_dead_letter_queue(synthesized: Synthesized) -> None:
    for spec in FUNCTIONS:
        if not spec.scheduled:
            assert "DeadLetterConfig" not in function_of(synthesized, spec)["Properties"]


def test_processor_secret_is_a_json_template_given_by_arn(synthesized: Synthesized) -> None:
    secret_id = synthesized.logical_id("ProcessorSecret/Secret/Resource")
    generate = synthesized.resources[secret_id]["Properties"]["GenerateSecretString"]

    assert json.loads(generate["SecretStringTemplate"]) == {"processor": "simulated"}
    assert generate["GenerateStringKey"] == GENERATED_FIELD
    for spec in FUNCTIONS:
        variables = function_of(synthesized, spec)["Properties"]["Environment"]["Variables"]
        if "PROCESSOR_SECRET_ARN" in variables:
            assert variables["PROCESSOR_SECRET_ARN"] == ref(secret_id)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_environment_is_encrypted_with_the_operations_key(
    synthesized: Synthesized, spec: FunctionSpec
) -> None:
    operations = arn_of(synthesized.logical_id("Keys/Operations/Resource"))

    assert function_of(synthesized, spec)["Properties"]["KmsKeyArn"] == operations


SNAP_STARTED = [spec for spec in FUNCTIONS if spec.snap_start]


def test_only_the_api_function_uses_snap_start(synthesized: Synthesized) -> None:
    assert [spec.construct_id for spec in SNAP_STARTED] == ["Api"]
    for spec in FUNCTIONS:
        properties = function_of(synthesized, spec)["Properties"]
        expected = {"ApplyOn": "PublishedVersions"} if spec.snap_start else None
        assert properties.get("SnapStart") == expected, spec.construct_id


def test_the_api_function_publishes_a_version_behind_the_live_alias(
    synthesized: Synthesized,
) -> None:
    function = synthesized.logical_id("Functions/Api/Function/Resource")
    (version_id, version), *others = [
        (logical_id, resource)
        for logical_id, resource in synthesized.of_type("AWS::Lambda::Version").items()
        if resource["Properties"]["FunctionName"] == ref(function)
    ]
    assert others == []
    # Replaced versions are deleted, so old snapshots are not kept (and billed) forever.
    assert version["DeletionPolicy"] == "Delete"
    (alias,) = synthesized.of_type("AWS::Lambda::Alias").values()
    assert alias["Properties"] == {
        "FunctionName": ref(function),
        "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]},
        "Name": LIVE_ALIAS,
    }


def test_snap_start_is_on_a_runtime_that_supports_it() -> None:
    from stacks.config import LAMBDA_RUNTIME

    assert LAMBDA_RUNTIME.supports_snap_start
