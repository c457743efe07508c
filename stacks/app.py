"""Builds the CDK app: validated configuration, the service stack, cdk-nag's checks."""

from __future__ import annotations

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.config import context_values, load_config
from stacks.service_stack import RefundServiceStack


def stack_name(stage: str) -> str:
    return f"RefundService-{stage}"


def build(app: App) -> RefundServiceStack:
    config = load_config(context_values(app.node.try_get_context))
    stack = RefundServiceStack(
        app,
        stack_name(config.stage),
        config=config,
        description=f"Refund service for card payments ({config.stage})",
    )
    # cdk-nag 3 is a validation plugin: findings fail the synth and are written to the cloud
    # assembly's validation-report.json, acknowledged ones with their reasons.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack
