"""With an existing identity provider the API trusts its issuer and no user pool is created.

Built in a small stack of its own (identity and HTTP API only) to keep the suite fast.
"""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template

from stacks.config import load_config
from stacks.constructs.http_api import HttpApi
from stacks.constructs.identity import Identity
from tests.infra.conftest import cdk_json_context

ISSUER = "https://payments.eu.auth0.com/"  # Auth0's form: the trailing slash is part of `iss`
AUDIENCE = ["refunds-api", "finance-tools"]


@pytest.fixture(scope="module")
def template() -> Template:
    config = load_config({**cdk_json_context(), "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE})
    stack = Stack(App(), "IdentityProviderTest")

    def function(name: str) -> lambda_.Function:
        return lambda_.Function(
            stack,
            name,
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context): pass"),
        )

    identity = Identity(stack, "Identity", config=config)
    HttpApi(
        stack,
        "HttpApi",
        config=config,
        identity=identity,
        api_function=function("Api"),
        webhooks_function=function("Webhooks"),
        log_key=kms.Key(stack, "Key"),
    )
    return Template.from_stack(stack)


def test_authorizer_trusts_the_configured_issuer_and_audience(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Authorizer",
        {
            "AuthorizerType": "JWT",
            "JwtConfiguration": {"Issuer": ISSUER, "Audience": AUDIENCE},
        },
    )


def test_scopes_are_plain_names(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Route",
        {"RouteKey": "POST /refunds", "AuthorizationScopes": ["refunds:write"]},
    )
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Route",
        {"RouteKey": "POST /transactions", "AuthorizationScopes": ["ledger:write"]},
    )


def test_no_user_pool_is_created(template: Template) -> None:
    template.resource_count_is("AWS::Cognito::UserPool", 0)
    template.resource_count_is("AWS::Cognito::UserPoolClient", 0)


def test_webhooks_carry_no_token_and_reads_need_the_read_scope(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Route",
        {"RouteKey": "POST /webhooks/{processor}", "AuthorizationType": "NONE"},
    )
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Route",
        {
            "RouteKey": "GET /refunds/{refund_id}",
            "AuthorizationScopes": Match.exact(["refunds:read"]),
        },
    )
