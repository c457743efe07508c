"""Infrastructure suite: the stack is synthesized once per session, exactly as `make synth` does.

Scope: what CloudFormation would be given (resources, IAM, alarms) and cdk-nag's verdict. No
AWS call is made; the asset is bundled locally. The context is cdk.json's, plus an alarm
e-mail so the subscription is part of what is checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.app import build

REPO_ROOT = Path(__file__).resolve().parents[2]
ALARM_EMAIL = "payments-oncall@example.com"


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return context


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    stack_name: str
    template: dict[str, Any]
    validation_report: dict[str, Any]
    synth_error: Exception | None

    @property
    def assertions(self) -> Template:
        return Template.from_json(self.template)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def logical_id(self, construct_path: str) -> str:
        """The logical id of the CloudFormation resource at `<stack>/<construct_path>`."""
        wanted = f"{self.stack_name}/{construct_path}"
        for logical_id, resource in self.resources.items():
            if resource.get("Metadata", {}).get("aws:cdk:path") == wanted:
                return logical_id
        raise KeyError(wanted)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    # Path metadata is what the CDK CLI asks for too; tests use it to find logical ids.
    context = {
        **cdk_json_context(),
        "alarm_email": ALARM_EMAIL,
        "aws:cdk:enable-path-metadata": True,
    }
    app = App(context=context, outdir=str(outdir))
    stack = build(app)
    error: Exception | None = None
    try:
        app.synth()
    except RuntimeError as failure:  # cdk-nag findings fail the synth; the report says which
        error = failure
    yield Synthesized(
        outdir=outdir,
        stack_name=stack.stack_name,
        template=json.loads((outdir / f"{stack.stack_name}.template.json").read_text()),
        validation_report=json.loads((outdir / "validation-report.json").read_text()),
        synth_error=error,
    )


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def arn_of(logical_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}
