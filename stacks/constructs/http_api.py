"""The HTTP API (API Gateway v2): routes with their scopes, throttling, JSON access logs.

Every route but the processor webhook requires a JWT with the route's scope. Webhooks carry
no token: each processor signs its calls, and the webhooks function checks the signature.
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

from stacks.config import ServiceConfig
from stacks.constructs.identity import Identity
from stacks.nag import acknowledge

GET = apigwv2.HttpMethod.GET
POST = apigwv2.HttpMethod.POST


@dataclass(frozen=True)
class ApiRoute:
    method: apigwv2.HttpMethod
    path: str
    scope: str | None  # None: no bearer token (the request is signed by the processor)
    target: str = "api"


ROUTES = (
    ApiRoute(POST, "/refunds", "refunds:write"),
    ApiRoute(GET, "/refunds/{refund_id}", "refunds:read"),
    ApiRoute(POST, "/refunds/{refund_id}/rollback", "refunds:admin"),
    ApiRoute(GET, "/transactions/{transaction_id}/ledger", "refunds:read"),
    ApiRoute(GET, "/transactions/{transaction_id}/audit", "refunds:read"),
    ApiRoute(POST, "/transactions", "ledger:write"),
    ApiRoute(POST, "/transactions/{transaction_id}/complete", "ledger:write"),
    ApiRoute(POST, "/transactions/{transaction_id}/chargebacks", "ledger:write"),
    # Read-scoped rather than public: an unauthenticated route is one more way to run up
    # invocations, and the callers that want the contract hold tokens anyway.
    ApiRoute(GET, "/openapi.json", "refunds:read"),
    ApiRoute(POST, "/webhooks/{processor}", None, target="webhooks"),
)

ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
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
        api_function: lambda_.IFunction,
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
        for route in ROUTES:
            self._add_route(route, targets[route.target], identity)

    @property
    def url(self) -> str:
        return self.stage.url

    def _add_route(
        self, route: ApiRoute, integration: apigwv2.HttpRouteIntegration, identity: Identity
    ) -> None:
        if route.scope is None:
            added = self.api.add_routes(
                path=route.path,
                methods=[route.method],
                integration=integration,
                authorizer=apigwv2.HttpNoneAuthorizer(),
            )
            for http_route in added:
                acknowledge(
                    http_route,
                    "APIG4",
                    "Processor webhooks carry no bearer token; every call is signed by the "
                    "processor and the webhooks function rejects any bad or missing signature.",
                )
            return
        self.api.add_routes(
            path=route.path,
            methods=[route.method],
            integration=integration,
            authorizer=identity.authorizer,
            authorization_scopes=[identity.scope(route.scope)],
        )
