"""Where bearer tokens come from: an existing identity provider, or a Cognito user pool.

With `jwt_issuer` and `jwt_audience` set, API Gateway trusts that issuer and nothing is created.
Otherwise the stack creates a user pool for machine clients (OAuth client credentials) with a
resource server holding the four scopes. Cognito names a resource server's scopes
`<identifier>/<scope>`, so routes require `refund-service/refunds:write` there and plain
`refunds:write` with an external issuer; `scope()` gives the right form.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from refund_service.api.auth import RESOURCE_SERVER_ID
from stacks.config import ServiceConfig
from stacks.nag import acknowledge

SCOPES = ("refunds:write", "refunds:read", "refunds:admin", "ledger:write")
# One client per kind of caller, each with only the scopes it needs.
CLIENT_SCOPES = {
    "SupportTools": ("refunds:write", "refunds:read"),
    "PaymentPlatform": ("ledger:write", "refunds:read"),
    "Administrators": ("refunds:admin", "refunds:read"),
}


class Identity(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: ServiceConfig) -> None:
        super().__init__(scope, construct_id)
        self.authorizer: apigwv2.IHttpRouteAuthorizer
        # Values operators need after deploy, published by the stack as outputs.
        self.outputs: dict[str, str] = {}
        if config.uses_external_identity_provider:
            self._scope_prefix = ""
            self.authorizer = authorizers.HttpJwtAuthorizer(
                "JwtAuthorizer", config.jwt_issuer, jwt_audience=list(config.jwt_audience)
            )
        else:
            self._scope_prefix = f"{RESOURCE_SERVER_ID}/"
            self.authorizer = self._cognito(config.stage)

    def scope(self, name: str) -> str:
        """The scope string a route requires, as the token carries it."""
        if name not in SCOPES:
            raise ValueError(f"unknown scope {name!r}")
        return self._scope_prefix + name

    def _cognito(self, stage: str) -> apigwv2.IHttpRouteAuthorizer:
        pool = self._user_pool()
        server = pool.add_resource_server(
            "ResourceServer",
            identifier=RESOURCE_SERVER_ID,
            scopes=[cognito.ResourceServerScope(scope_name=s, scope_description=s) for s in SCOPES],
        )
        domain = pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=f"refund-service-{stage}-{Aws.ACCOUNT_ID}"
            ),
        )
        clients = [
            self._client(pool, server, name, scopes) for name, scopes in CLIENT_SCOPES.items()
        ]
        self.outputs["UserPoolId"] = pool.user_pool_id
        self.outputs["TokenUrl"] = f"{domain.base_url()}/oauth2/token"
        return authorizers.HttpUserPoolAuthorizer(
            "CognitoAuthorizer", pool, user_pool_clients=clients
        )

    def _user_pool(self) -> cognito.UserPool:
        pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            account_recovery=cognito.AccountRecovery.NONE,
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            # Holds no user data, only client registrations that are cheap to issue again.
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            pool,
            "COG8",
            "Only machine clients use this pool, through the client-credentials grant; the Plus "
            "plan's threat protection scores user sign-ins, so it would protect nothing here.",
        )
        return pool

    def _client(
        self,
        pool: cognito.UserPool,
        server: cognito.UserPoolResourceServer,
        name: str,
        scopes: tuple[str, ...],
    ) -> cognito.UserPoolClient:
        client = pool.add_client(
            name,
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[
                    cognito.OAuthScope.resource_server(
                        server, cognito.ResourceServerScope(scope_name=s, scope_description=s)
                    )
                    for s in scopes
                ],
            ),
            access_token_validity=Duration.minutes(60),
            prevent_user_existence_errors=True,
        )
        self.outputs[f"{name}ClientId"] = client.user_pool_client_id
        return client
