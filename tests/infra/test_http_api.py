"""The HTTP API: routes, scopes, authorizer, payload format, throttling and access logs."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import Synthesized, arn_of, ref

COGNITO_PREFIX = "refund-service/"
EXPECTED_ROUTES = {
    "POST /refunds": "refunds:write",
    "GET /refunds/{refund_id}": "refunds:read",
    "POST /refunds/{refund_id}/rollback": "refunds:admin",
    "GET /transactions/{transaction_id}/ledger": "refunds:read",
    "GET /transactions/{transaction_id}/audit": "refunds:read",
    "POST /transactions": "ledger:write",
    "POST /transactions/{transaction_id}/complete": "ledger:write",
    "POST /transactions/{transaction_id}/chargebacks": "ledger:write",
    "POST /transactions/{transaction_id}/chargebacks/{chargeback_id}/resolve": "ledger:write",
    "GET /refunds": "refunds:read",
    "GET /reports/refunds": "refunds:read",
}
WEBHOOK_ROUTE = "POST /webhooks/{processor}"
OPENAPI_ROUTE = "GET /openapi.json"


def _routes(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        route["Properties"]["RouteKey"]: route["Properties"]
        for route in synthesized.of_type("AWS::ApiGatewayV2::Route").values()
    }


def _integration_function(synthesized: Synthesized, route: dict[str, Any]) -> str:
    """The function a route invokes; through an alias, the function behind the alias."""
    integration_id = route["Target"]["Fn::Join"][1][1]["Ref"]
    integration = synthesized.resources[integration_id]["Properties"]
    target: dict[str, Any] = integration["IntegrationUri"]
    if "Ref" in target:  # an alias
        alias = synthesized.resources[target["Ref"]]["Properties"]
        function: str = alias["FunctionName"]["Ref"]
        return function
    function_id: str = target["Fn::GetAtt"][0]
    return function_id


def test_exactly_the_specified_routes(synthesized: Synthesized) -> None:
    assert set(_routes(synthesized)) == {*EXPECTED_ROUTES, WEBHOOK_ROUTE, OPENAPI_ROUTE}


def test_api_routes_require_a_jwt_with_their_scope(synthesized: Synthesized) -> None:
    routes = _routes(synthesized)
    authorizer = next(iter(synthesized.of_type("AWS::ApiGatewayV2::Authorizer")))

    for route_key, scope in EXPECTED_ROUTES.items():
        route = routes[route_key]
        assert route["AuthorizationType"] == "JWT", route_key
        assert route["AuthorizerId"] == ref(authorizer), route_key
        assert route["AuthorizationScopes"] == [COGNITO_PREFIX + scope], route_key


def test_api_routes_go_to_the_api_function(synthesized: Synthesized) -> None:
    api_function = synthesized.logical_id("Functions/Api/Function/Resource")
    routes = _routes(synthesized)

    for route_key in EXPECTED_ROUTES:
        assert _integration_function(synthesized, routes[route_key]) == api_function


def test_webhooks_have_no_jwt_and_go_to_the_webhooks_function(synthesized: Synthesized) -> None:
    route = _routes(synthesized)[WEBHOOK_ROUTE]
    webhooks = synthesized.logical_id("Functions/Webhooks/Function/Resource")

    assert route["AuthorizationType"] == "NONE"
    assert "AuthorizationScopes" not in route
    assert _integration_function(synthesized, route) == webhooks


def test_openapi_document_is_public_and_served_by_the_api_function(
    synthesized: Synthesized,
) -> None:
    route = _routes(synthesized)[OPENAPI_ROUTE]
    api_function = synthesized.logical_id("Functions/Api/Function/Resource")

    assert route["AuthorizationType"] == "NONE"
    assert _integration_function(synthesized, route) == api_function


def test_lambda_integrations_use_payload_format_2(synthesized: Synthesized) -> None:
    integrations = synthesized.of_type("AWS::ApiGatewayV2::Integration").values()

    assert len(integrations) == 2
    for integration in integrations:
        assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"
        assert integration["Properties"]["PayloadFormatVersion"] == "2.0"


def test_authorizer_trusts_the_stack_user_pool(synthesized: Synthesized) -> None:
    (authorizer,) = synthesized.of_type("AWS::ApiGatewayV2::Authorizer").values()
    pool = synthesized.logical_id("Identity/UserPool/Resource")
    configuration = authorizer["Properties"]

    assert configuration["AuthorizerType"] == "JWT"
    assert configuration["IdentitySource"] == ["$request.header.Authorization"]
    assert ref(pool) in configuration["JwtConfiguration"]["Issuer"]["Fn::Join"][1]
    assert len(configuration["JwtConfiguration"]["Audience"]) == 3


def test_user_pool_resource_server_has_the_four_scopes(synthesized: Synthesized) -> None:
    (server,) = synthesized.of_type("AWS::Cognito::UserPoolResourceServer").values()

    assert server["Properties"]["Identifier"] == "refund-service"
    assert {s["ScopeName"] for s in server["Properties"]["Scopes"]} == {
        "refunds:write",
        "refunds:read",
        "refunds:admin",
        "ledger:write",
    }


def test_each_client_gets_only_its_scopes_by_client_credentials(synthesized: Synthesized) -> None:
    server = ref(synthesized.logical_id("Identity/UserPool/ResourceServer/Resource"))
    clients = {
        client["Metadata"]["aws:cdk:path"].split("/")[-2]: client["Properties"]
        for client in synthesized.of_type("AWS::Cognito::UserPoolClient").values()
    }

    def scopes(client: dict[str, Any]) -> list[str]:
        # `<resource server identifier>/<scope>`, the identifier taken from the server itself
        joined = [scope["Fn::Join"][1] for scope in client["AllowedOAuthScopes"]]
        assert all(parts[0] == server for parts in joined)
        return sorted(parts[1].removeprefix("/") for parts in joined)

    assert {name: scopes(client) for name, client in clients.items()} == {
        "SupportTools": ["refunds:read", "refunds:write"],
        "PaymentPlatform": ["ledger:write", "refunds:read"],
        "Administrators": ["refunds:admin", "refunds:read"],
    }
    for client in clients.values():
        assert client["AllowedOAuthFlows"] == ["client_credentials"]
        assert client["GenerateSecret"] is True


def test_user_pool_admits_no_self_sign_up(synthesized: Synthesized) -> None:
    pool = synthesized.resources[synthesized.logical_id("Identity/UserPool/Resource")]

    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Properties"]["MfaConfiguration"] == "ON"


def test_stage_is_throttled_and_auto_deployed(synthesized: Synthesized) -> None:
    (stage,) = synthesized.of_type("AWS::ApiGatewayV2::Stage").values()
    properties = stage["Properties"]

    assert properties["StageName"] == "$default"
    assert properties["AutoDeploy"] is True
    assert properties["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": 100,
        "ThrottlingRateLimit": 50,
    }


def test_access_logs_are_json_to_an_encrypted_log_group(synthesized: Synthesized) -> None:
    (stage,) = synthesized.of_type("AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["AccessLogSettings"]
    log_group_id = synthesized.logical_id("HttpApi/AccessLogs/Resource")
    log_group = synthesized.resources[log_group_id]["Properties"]

    assert settings["DestinationArn"] == arn_of(log_group_id)
    fields = json.loads(settings["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert {"status", "routeKey", "responseLatency"} <= set(fields)
    assert log_group["KmsKeyId"] == arn_of(synthesized.logical_id("Keys/Operations/Resource"))
    assert log_group["RetentionInDays"] == 90


def test_access_logs_do_not_record_the_callers_ip(synthesized: Synthesized) -> None:
    # SPEC 8: the caller's address is personal data, kept only encrypted in the audit record
    (stage,) = synthesized.of_type("AWS::ApiGatewayV2::Stage").values()
    log_format = stage["Properties"]["AccessLogSettings"]["Format"]

    assert "sourceip" not in log_format.lower()
    assert "$context.identity" not in log_format.replace("$context.identity.userAgent", "")


def test_webhooks_route_has_its_own_lower_throttle(synthesized: Synthesized) -> None:
    (stage_id,) = synthesized.of_type("AWS::ApiGatewayV2::Stage")
    stage = synthesized.resources[stage_id]
    route_id = synthesized.logical_id("HttpApi/Api/POST--webhooks--{processor}/Resource")

    assert stage["Properties"]["RouteSettings"] == {
        "POST /webhooks/{processor}": {"ThrottlingRateLimit": 10, "ThrottlingBurstLimit": 20}
    }
    # API Gateway refuses route settings for a route it has not created yet
    assert route_id in stage["DependsOn"]


def test_api_routes_invoke_the_live_alias_and_only_it_is_granted_to_api_gateway(
    synthesized: Synthesized,
) -> None:
    alias = synthesized.logical_id("Functions/Api/Live/Resource")
    function = synthesized.logical_id("Functions/Api/Function/Resource")
    api_targets = [
        i["Properties"]["IntegrationUri"]
        for i in synthesized.of_type("AWS::ApiGatewayV2::Integration").values()
        if i["Properties"]["IntegrationUri"]
        != arn_of(synthesized.logical_id("Functions/Webhooks/Function/Resource"))
    ]
    assert api_targets == [ref(alias)]
    permitted = [
        p["Properties"]["FunctionName"]
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert ref(alias) in permitted
    # API Gateway may invoke the alias, never the unpublished function ($LATEST).
    assert ref(function) not in permitted and arn_of(function) not in permitted
