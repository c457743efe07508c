"""Scheduled functions: EventBridge Scheduler at each spec's interval, bounded retries, a
dead-letter queue on every target, and no two runs of one function at once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from refund_service.service.verification import SWEEP_GROUPS
from stacks.app import build
from stacks.constructs.functions import FUNCTIONS, FunctionSpec
from tests.infra.conftest import Synthesized, arn_of, cdk_json_context

EXPECTED = {
    "Reconciler": 300,
    "Verifier": 1800,
    "ProcessorReconciler": 3600,
    "FxRates": 10800,
    "Anchor": 3600,
}
SCHEDULED = [spec for spec in FUNCTIONS if spec.construct_id in EXPECTED]


def schedules_of(synthesized: Synthesized, spec: FunctionSpec) -> list[dict[str, Any]]:
    target = arn_of(synthesized.logical_id(f"Functions/{spec.construct_id}/Function/Resource"))
    return [
        schedule["Properties"]
        for schedule in synthesized.of_type("AWS::Scheduler::Schedule").values()
        if schedule["Properties"]["Target"]["Arn"] == target
    ]


def schedule_of(synthesized: Synthesized, spec: FunctionSpec) -> dict[str, Any]:
    """The function's schedule (the verification sweep's first group: all are alike)."""
    return schedules_of(synthesized, spec)[0]


def test_the_known_scheduled_functions_have_intervals() -> None:
    intervals = {spec.construct_id: spec.every for spec in FUNCTIONS if spec.every is not None}

    assert {name: every.to_seconds() for name, every in intervals.items()} == EXPECTED


@pytest.mark.parametrize("spec", SCHEDULED, ids=lambda spec: spec.construct_id)
def test_function_runs_on_its_schedule(synthesized: Synthesized, spec: FunctionSpec) -> None:
    schedule = schedule_of(synthesized, spec)
    seconds = EXPECTED[spec.construct_id]
    minutes = seconds // 60
    hours = minutes // 60
    expected_rate = (
        f"rate({minutes} minutes)"
        if minutes < 60
        else f"rate({hours} hour{'s' if hours > 1 else ''})"
    )
    queue = arn_of(
        synthesized.logical_id(f"Functions/{spec.construct_id}/DeadLetterQueue/Resource")
    )

    assert schedule["ScheduleExpression"] == expected_rate
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": seconds,
        "MaximumRetryAttempts": 3,
    }
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": queue}


@pytest.mark.parametrize("spec", SCHEDULED, ids=lambda spec: spec.construct_id)
def test_scheduler_role_invokes_one_function_and_sends_to_its_queue(
    synthesized: Synthesized, spec: FunctionSpec
) -> None:
    schedule = schedule_of(synthesized, spec)
    role_id = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    role = synthesized.resources[role_id]["Properties"]
    (policy,) = [
        resource["Properties"]["PolicyDocument"]["Statement"]
        for resource in synthesized.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in resource["Properties"]["Roles"]
    ]
    function = arn_of(synthesized.logical_id(f"Functions/{spec.construct_id}/Function/Resource"))
    queue = arn_of(
        synthesized.logical_id(f"Functions/{spec.construct_id}/DeadLetterQueue/Resource")
    )
    operations = arn_of(synthesized.logical_id("Keys/Operations/Resource"))

    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "scheduler.amazonaws.com"
    }

    def actions(statement: dict[str, Any]) -> str:
        action = statement["Action"]
        return ",".join(sorted(action)) if isinstance(action, list) else action

    assert {(actions(s), str(s["Resource"])) for s in policy} == {
        ("lambda:InvokeFunction", str(function)),  # no "<arn>:*": no other version or alias
        ("sqs:SendMessage", str(queue)),
        ("kms:Decrypt,kms:GenerateDataKey", str(operations)),
    }


def test_no_legacy_events_rules(synthesized: Synthesized) -> None:
    assert synthesized.of_type("AWS::Events::Rule") == {}
    scheduled = [spec for spec in FUNCTIONS if spec.every is not None]
    # the verification sweep runs one schedule per group of its segments
    assert len(synthesized.of_type("AWS::Scheduler::Schedule")) == len(scheduled) - 1 + (
        SWEEP_GROUPS
    )


def test_each_sweep_group_has_its_schedule_with_its_group_as_input(
    synthesized: Synthesized,
) -> None:
    (verifier,) = [spec for spec in FUNCTIONS if spec.construct_id == "Verifier"]
    inputs = sorted(
        json.loads(s["Target"]["Input"])["group"] for s in schedules_of(synthesized, verifier)
    )

    assert inputs == list(range(SWEEP_GROUPS))


@pytest.mark.parametrize("spec", SCHEDULED, ids=lambda spec: spec.construct_id)
def test_a_run_cannot_reach_into_the_next_one(synthesized: Synthesized, spec: FunctionSpec) -> None:
    function_id = synthesized.logical_id(f"Functions/{spec.construct_id}/Function/Resource")
    (config,) = [
        resource["Properties"]
        for resource in synthesized.of_type("AWS::Lambda::EventInvokeConfig").values()
        if resource["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    timeout = synthesized.resources[function_id]["Properties"]["Timeout"]

    # no retry re-runs it, and a run left waiting in Lambda's queue is dropped in time
    assert config["MaximumRetryAttempts"] == 0
    assert config["MaximumEventAgeInSeconds"] + timeout <= EXPECTED[spec.construct_id]


def test_only_scheduled_functions_have_async_settings(synthesized: Synthesized) -> None:
    assert len(synthesized.of_type("AWS::Lambda::EventInvokeConfig")) == len(
        [spec for spec in FUNCTIONS if spec.every is not None]
    )


def test_no_concurrency_is_reserved_by_default(synthesized: Synthesized) -> None:
    for function in synthesized.of_type("AWS::Lambda::Function").values():
        assert "ReservedConcurrentExecutions" not in function["Properties"]


def test_reserved_concurrency_of_one_for_scheduled_functions_when_asked() -> None:
    app = App(context={**cdk_json_context(), "reserve_scheduled_concurrency": "true"})
    template = Template.from_stack(build(app)).to_json()

    reserved = {
        function["Properties"]["Description"]: function["Properties"].get(
            "ReservedConcurrentExecutions"
        )
        for function in template["Resources"].values()
        if function["Type"] == "AWS::Lambda::Function"
    }
    by_description = {spec.description: spec for spec in FUNCTIONS}
    for description, value in reserved.items():
        expected = 1 if by_description[description].every is not None else None
        assert value == expected, description
