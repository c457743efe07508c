"""The HTTP API (API Gateway v2): routes with their scopes, throttling, JSON access logs.

Every route requires a JWT with the route's scope except two: the OpenAPI document, and the
processor webhooks, which carry no token because each processor signs its calls and the
webhooks function checks the signature.

The API routes invoke the API function's `live` alias, the published version SnapStart
restores from (docs/decisions/0024-snapstart.md); its invoke permissions name the alias.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import jsii
from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from refund_service.api.auth import ROUTE_SCOPES
from stacks.config import ServiceConfig
from stacks.constructs.identity import Identity
from stacks.nag import acknowledge


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    scope: str | None  # None: no bearer token, for the reason given
    target: str = "api"
    why_public: str = ""


# The scoped routes are the runtime's own table, so API Gateway and the handler's check (and
# the local server) cannot disagree about a route or its scope.
SCOPED_ROUTES = tuple(
    ApiRoute(method, path, scope) for (method, path), scope in ROUTE_SCOPES.items()
)
PUBLIC_ROUTES = tuple(
    route
    for route in (
        ApiRoute(
            "GET",
            "/openapi.json",
            None,
            why_public="The OpenAPI document describes the contract and holds no data; tools "
            "read it before they hold a token, and stage throttling bounds its invocations.",
        ),
        ApiRoute(
            "POST",
            "/webhooks/{processor}",
            None,
            target="webhooks",
            why_public="Processor webhooks carry no bearer token; every call is signed by the "
            "processor and the webhooks function rejects any bad or missing signature.",
        ),
    )
    if (route.method, route.path) not in ROUTE_SCOPES
)
ROUTES = SCOPED_ROUTES + PUBLIC_ROUTES
WEBHOOK_ROUTE_KEY = "POST /webhooks/{processor}"

# No caller IP ($context.identity.sourceIp): it is personal data (SPEC 8), which the service
# keeps only encrypted, in the audit record. The request id leads from a line to that record.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
    "subject": "$context.authorizer.claims.sub",
}


@jsii.implements(apigwv2.IAccessLogSettings)
class _JsonAccessLogs:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS))


class HttpApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServiceConfig,
        identity: Identity,
        api_function: lambda_.IFunction,  # the API function's live alias
        webhooks_function: lambda_.IFunction,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=f"refund-service-{config.stage}",
            description="Refunds for card payments",
            create_default_stage=False,
        )
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            encryption_key=log_key,
            retention=config.log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.stage = self.api.add_stage(
            "DefaultStage",
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=config.api_throttle_rate, burst_limit=config.api_throttle_burst
            ),
            access_log_settings=_JsonAccessLogs(self.access_logs),
        )
        targets = {
            "api": integrations.HttpLambdaIntegration(
                "ApiIntegration",
                api_function,
                payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
            ),
            "webhooks": integrations.HttpLambdaIntegration(
                "WebhooksIntegration",
                webhooks_function,
                payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
            ),
        }
        self.routes: dict[str, apigwv2.HttpRoute] = {}
        for route in ROUTES:
            self._add_route(route, targets[route.target], identity)
        self._throttle_webhooks(config)

    def _throttle_webhooks(self, config: ServiceConfig) -> None:
        """The stage's throttle is every route's default, each route counted on its own; the
        webhooks route gets a lower limit of its own."""
        stage = self.stage.node.default_child
        assert isinstance(stage, apigwv2.CfnStage)
        stage.route_settings = {
            WEBHOOK_ROUTE_KEY: {
                "ThrottlingRateLimit": config.webhook_throttle_rate,
                "ThrottlingBurstLimit": config.webhook_throttle_burst,
            }
        }
        # API Gateway refuses settings for a route it does not have yet.
        self.stage.node.add_dependency(self.routes[WEBHOOK_ROUTE_KEY])

    @property
    def url(self) -> str:
        return self.stage.url

    def _add_route(
        self, route: ApiRoute, integration: apigwv2.HttpRouteIntegration, identity: Identity
    ) -> None:
        methods = [apigwv2.HttpMethod[route.method]]
        if route.scope is None:
            added = self.api.add_routes(
                path=route.path,
                methods=methods,
                integration=integration,
                authorizer=apigwv2.HttpNoneAuthorizer(),
            )
            for http_route in added:
                acknowledge(http_route, "APIG4", route.why_public)
            self.routes[f"{route.method} {route.path}"] = added[0]
            return
        added = self.api.add_routes(
            path=route.path,
            methods=methods,
            integration=integration,
            authorizer=identity.authorizer,
            authorization_scopes=[identity.scope(route.scope)],
        )
        self.routes[f"{route.method} {route.path}"] = added[0]
