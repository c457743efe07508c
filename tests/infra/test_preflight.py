"""`make deploy`'s preflight: region, credentials, bootstrap, Powertools layer, context."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from stacks.config import POWERTOOLS_LAYER_VERSION
from stacks.preflight import resolve_region, run
from tests.infra.conftest import cdk_json_context

ACCOUNT = "123456789012"
REGION = "eu-west-1"
LAYER_PARAMETER = f"/aws/service/powertools/python/arm64/python3.14/{POWERTOOLS_LAYER_VERSION}"
BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"


def no_profile_region(profile: str | None) -> str | None:
    return None


def profile_says(region: str) -> Any:
    return lambda profile: region


class StubbedAws:
    """boto3 clients whose answers are queued on botocore Stubbers; no call leaves the process."""

    def __init__(self) -> None:
        self.sts = boto3.client("sts", region_name=REGION)
        self.ssm = boto3.client("ssm", region_name=REGION)
        self.stubs = {"sts": Stubber(self.sts), "ssm": Stubber(self.ssm)}

    def client(self, service: str, region: str) -> Any:
        assert region == REGION
        return {"sts": self.sts, "ssm": self.ssm}[service]

    def caller_is(self, account: str) -> None:
        self.stubs["sts"].add_response(
            "get_caller_identity",
            {"Account": account, "Arn": f"arn:aws:iam::{account}:user/deployer", "UserId": "AID"},
        )

    def credentials_expired(self) -> None:
        self.stubs["sts"].add_client_error(
            "get_caller_identity", "ExpiredToken", "The security token included has expired"
        )

    def parameter(self, name: str, value: str | None) -> None:
        if value is None:
            self.stubs["ssm"].add_client_error(
                "get_parameter", "ParameterNotFound", expected_params={"Name": name}
            )
            return
        self.stubs["ssm"].add_response(
            "get_parameter",
            {"Parameter": {"Name": name, "Type": "String", "Value": value}},
            expected_params={"Name": name},
        )


@pytest.fixture
def aws() -> Iterator[StubbedAws]:
    stubbed = StubbedAws()
    for stub in stubbed.stubs.values():
        stub.activate()
    yield stubbed
    for stub in stubbed.stubs.values():
        stub.assert_no_pending_responses()


def preflight(
    aws: StubbedAws,
    environment: dict[str, str],
    profile_region: Any = no_profile_region,
    arguments: tuple[str, ...] = (),
) -> tuple[list[str], str | None]:
    return run(arguments, environment, profile_region, aws.client, cdk_json_context())


def test_a_ready_environment_passes_and_names_account_and_region(aws: StubbedAws) -> None:
    aws.caller_is(ACCOUNT)
    aws.parameter(BOOTSTRAP_PARAMETER, "30")
    aws.parameter(LAYER_PARAMETER, "arn:aws:lambda:eu-west-1:017000801446:layer:P:1")

    problems, ready = preflight(aws, {"AWS_REGION": REGION})

    assert problems == []
    assert ready is not None
    assert ACCOUNT in ready
    assert REGION in ready


def test_no_region_anywhere_is_refused_without_calling_aws(aws: StubbedAws) -> None:
    problems, ready = preflight(aws, {})

    assert ready is None
    assert len(problems) == 1
    assert problems[0].startswith("region: none set")
    assert "AWS_REGION" in problems[0]


def test_the_profile_region_alone_is_used(aws: StubbedAws) -> None:
    region, problems = resolve_region({"AWS_PROFILE": "payments"}, profile_says(REGION))

    assert (region, problems) == (REGION, [])


def test_a_default_region_that_contradicts_the_profile_is_refused() -> None:
    # The situation the old Makefile created: AWS_DEFAULT_REGION=us-east-1 over a profile's region
    environment = {"AWS_PROFILE": "payments", "AWS_DEFAULT_REGION": "us-east-1"}

    region, problems = resolve_region(environment, profile_says(REGION))

    assert region is None
    assert len(problems) == 1
    assert "AWS_DEFAULT_REGION says us-east-1" in problems[0]
    assert f"profile 'payments' says {REGION}" in problems[0]


def test_region_variables_that_disagree_are_refused() -> None:
    environment = {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": "us-east-1"}

    region, problems = resolve_region(environment, no_profile_region)

    assert region is None
    assert "disagree" in problems[0]


def test_a_missing_profile_is_named() -> None:
    def missing(profile: str | None) -> str | None:
        raise ValueError(f"The config profile ({profile}) could not be found")

    region, problems = resolve_region({"AWS_PROFILE": "nope"}, missing)

    assert region is None
    assert problems == ["region: The config profile (nope) could not be found"]


def test_broken_credentials_stop_the_aws_checks(aws: StubbedAws) -> None:
    aws.credentials_expired()

    problems, ready = preflight(aws, {"AWS_REGION": REGION})

    assert ready is None
    assert len(problems) == 1
    assert problems[0].startswith("credentials: sts get-caller-identity failed")
    assert "ExpiredToken" in problems[0]


def test_an_environment_not_bootstrapped_is_refused_with_the_command(aws: StubbedAws) -> None:
    aws.caller_is(ACCOUNT)
    aws.parameter(BOOTSTRAP_PARAMETER, None)
    aws.parameter(LAYER_PARAMETER, "arn:aws:lambda:eu-west-1:017000801446:layer:P:1")

    problems, _ = preflight(aws, {"AWS_REGION": REGION})

    assert problems == [
        f"bootstrap: {REGION} is not bootstrapped ({BOOTSTRAP_PARAMETER} is missing); "
        f"run node_modules/.bin/cdk bootstrap aws://{ACCOUNT}/{REGION}"
    ]


def test_an_old_bootstrap_version_is_refused(aws: StubbedAws) -> None:
    aws.caller_is(ACCOUNT)
    aws.parameter(BOOTSTRAP_PARAMETER, "5")
    aws.parameter(LAYER_PARAMETER, "arn:aws:lambda:eu-west-1:017000801446:layer:P:1")

    problems, _ = preflight(aws, {"AWS_REGION": REGION})

    assert len(problems) == 1
    assert problems[0].startswith("bootstrap: version 5")


def test_a_custom_bootstrap_qualifier_is_followed(aws: StubbedAws) -> None:
    aws.caller_is(ACCOUNT)
    aws.parameter("/cdk-bootstrap/payments1/version", "30")
    aws.parameter(LAYER_PARAMETER, "arn:aws:lambda:eu-west-1:017000801446:layer:P:1")

    problems, _ = preflight(
        aws,
        {"AWS_REGION": REGION},
        arguments=("-c", "@aws-cdk/core:bootstrapQualifier=payments1"),
    )

    assert problems == []


def test_a_missing_powertools_layer_parameter_is_named(aws: StubbedAws) -> None:
    aws.caller_is(ACCOUNT)
    aws.parameter(BOOTSTRAP_PARAMETER, "30")
    aws.parameter(LAYER_PARAMETER, None)

    problems, _ = preflight(aws, {"AWS_REGION": REGION})

    assert len(problems) == 1
    assert problems[0].startswith(f"powertools layer: {LAYER_PARAMETER} is not published")
    assert REGION in problems[0]


def test_each_bad_context_value_gets_its_own_line(aws: StubbedAws) -> None:
    problems, ready = preflight(
        aws,
        {},
        arguments=(
            "-c",
            "stage=Prod!",
            "--context",
            "processor=paypal",
            "-c",
            "log_retention_days=8",
        ),
    )

    assert ready is None
    context_problems = [problem for problem in problems if problem.startswith("context: ")]
    assert [problem.split(":")[1].strip() for problem in context_problems] == [
        "stage",
        "processor",
        "log_retention_days",
    ]
