"""Checks `make deploy` runs before the CDK touches anything: one line per problem, exit 1.

    python -m stacks.preflight [-c key=value ...]

In order: the region is named explicitly and every place that names it agrees (the CDK CLI
prefers AWS_REGION / AWS_DEFAULT_REGION over the profile's region, so a stray default would
deploy to the wrong region); the credentials work; the environment is bootstrapped; the
Powertools layer of the pinned release is published in that region; the context is valid.
The AWS checks are skipped when there is no region or no working credentials, since each
would only repeat that problem. Problems are printed as they are found: the region line comes
before the CDK library (slow to import) is loaded for the context check.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BOOTSTRAP_QUALIFIER = "hnb659fds"
QUALIFIER_CONTEXT_KEY = "@aws-cdk/core:bootstrapQualifier"
# The synthesized template's own rule refuses bootstrap versions 1-5.
MINIMUM_BOOTSTRAP_VERSION = 6
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


@dataclass
class Findings:
    report: Callable[[str], None] = lambda problem: None
    problems: list[str] = field(default_factory=list)

    def add(self, problem: str) -> None:
        self.problems.append(problem)
        self.report(problem)


def resolve_region(
    environment: Mapping[str, str], profile_region: Callable[[str | None], str | None]
) -> tuple[str | None, list[str]]:
    """The one region every source agrees on, or None and why not.

    `profile_region(profile)` reads the named (or default) profile's `region` from the AWS
    config; it raises ValueError when the profile does not exist.
    """
    profile = environment.get("AWS_PROFILE") or None
    named = {name: environment[name] for name in REGION_VARIABLES if environment.get(name)}
    problems: list[str] = []
    try:
        from_profile = profile_region(profile)
    except ValueError as error:
        return None, [f"region: {error}"]
    profile_label = f"profile {profile!r}" if profile else "the default profile"
    if from_profile:
        named[profile_label] = from_profile
    if not named:
        problems.append(
            "region: none set; name it with AWS_REGION=<region> or a region in "
            f"{profile_label} (make deploy no longer assumes us-east-1)"
        )
        return None, problems
    if len(set(named.values())) > 1:
        sources = ", ".join(f"{source} says {region}" for source, region in named.items())
        problems.append(f"region: sources disagree ({sources}); make them agree or unset one")
        return None, problems
    return next(iter(named.values())), problems


def botocore_profile_region(profile: str | None) -> str | None:
    import botocore.exceptions  # noqa: PLC0415 - only the command line needs botocore
    import botocore.session  # noqa: PLC0415

    session = botocore.session.Session(profile=profile)
    try:
        region = session.get_scoped_config().get("region")
    except botocore.exceptions.ProfileNotFound as error:
        raise ValueError(str(error)) from error
    return str(region) if region else None


def check_credentials(sts: Any, findings: Findings) -> str | None:
    """The account the credentials belong to, or None after recording why they do not work."""
    import botocore.exceptions  # noqa: PLC0415

    try:
        account: str = sts.get_caller_identity()["Account"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        findings.add(f"credentials: sts get-caller-identity failed: {error}")
        return None
    return account


def _parameter(ssm: Any, name: str) -> str | None:
    try:
        value: str = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return value


def check_bootstrap(
    ssm: Any, account: str, region: str, qualifier: str, findings: Findings
) -> None:
    name = f"/cdk-bootstrap/{qualifier}/version"
    fix = f"run node_modules/.bin/cdk bootstrap aws://{account}/{region}"
    version = _parameter(ssm, name)
    if version is None:
        findings.add(f"bootstrap: {region} is not bootstrapped ({name} is missing); {fix}")
    elif not version.isdigit() or int(version) < MINIMUM_BOOTSTRAP_VERSION:
        findings.add(
            f"bootstrap: version {version} in {region} is older than "
            f"{MINIMUM_BOOTSTRAP_VERSION}; {fix}"
        )


def check_powertools_layer(ssm: Any, region: str, findings: Findings) -> None:
    from stacks.config import powertools_layer_parameter  # noqa: PLC0415 - loads the CDK

    name = powertools_layer_parameter()
    if _parameter(ssm, name) is None:
        findings.add(
            f"powertools layer: {name} is not published in {region}; pick a release whose "
            "layer exists there (stacks/config.py POWERTOOLS_LAYER_VERSION)"
        )


def context_from(arguments: Sequence[str], committed: Mapping[str, Any]) -> dict[str, Any]:
    """cdk.json's context with `-c key=value` / `--context key=value` applied on top."""
    context = dict(committed)
    remaining = list(arguments)
    while remaining:
        flag = remaining.pop(0)
        if flag in ("-c", "--context") and remaining:
            key, _, value = remaining.pop(0).partition("=")
            context[key] = value
    return context


def check_context(context: Mapping[str, Any], findings: Findings) -> None:
    from stacks.config import ConfigError, context_values, load_config  # noqa: PLC0415

    try:
        load_config(context_values(context.get))
    except ConfigError as error:
        for problem in str(error).removeprefix("invalid configuration: ").split("; "):
            findings.add(f"context: {problem}")


def run(
    arguments: Sequence[str],
    environment: Mapping[str, str],
    profile_region: Callable[[str | None], str | None],
    client: Callable[[str, str], Any],
    committed_context: Mapping[str, Any],
    report: Callable[[str], None] = lambda problem: None,
) -> tuple[list[str], str | None]:
    """Every problem found, and on success a line naming the account and region."""
    findings = Findings(report)
    context = context_from(arguments, committed_context)
    region, region_problems = resolve_region(environment, profile_region)
    for problem in region_problems:
        findings.add(problem)
    account = None
    if region is not None:
        account = check_credentials(client("sts", region), findings)
    if region is not None and account is not None:
        ssm = client("ssm", region)
        qualifier = str(context.get(QUALIFIER_CONTEXT_KEY) or DEFAULT_BOOTSTRAP_QUALIFIER)
        check_bootstrap(ssm, account, region, qualifier, findings)
        check_powertools_layer(ssm, region, findings)
    check_context(context, findings)
    if findings.problems:
        return findings.problems, None
    return [], f"preflight: account {account}, region {region}: ready to deploy"


def _boto3_client(service: str, region: str) -> Any:
    import boto3  # noqa: PLC0415

    return boto3.Session(profile_name=os.environ.get("AWS_PROFILE") or None).client(
        service, region_name=region
    )


def _print_problem(problem: str) -> None:
    print(f"preflight: {problem}", file=sys.stderr, flush=True)


def main(arguments: Sequence[str]) -> int:
    committed = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    problems, ready = run(
        arguments, os.environ, botocore_profile_region, _boto3_client, committed, _print_problem
    )
    if ready:
        print(ready)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
