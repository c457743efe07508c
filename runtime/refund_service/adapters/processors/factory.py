"""The configured vendor processor and webhook parser, built from the processor secret.

Credentials are read when an adapter is built. The secret is cached by Powertools for five
minutes, so building per invocation costs nothing and lets a rotated key reach warm functions;
an adapter built once per process keeps its key until the next cold start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from refund_service.adapters.processors.adyen import AdyenProcessor
from refund_service.adapters.processors.credentials import (
    CredentialsError,
    adyen_credentials,
    load_secret,
    stripe_credentials,
)
from refund_service.adapters.processors.stripe import StripeProcessor
from refund_service.adapters.processors.transport import RetryPolicy
from refund_service.adapters.processors.webhooks import Counter, WebhookParser
from refund_service.adapters.processors.webhooks_adyen import AdyenWebhooks
from refund_service.adapters.processors.webhooks_simulated import SimulatedWebhooks
from refund_service.adapters.processors.webhooks_stripe import StripeWebhooks
from refund_service.domain.processor import RefundProcessor

SecretLoader = Callable[[str], Mapping[str, Any]]


def build_vendor_processor(
    name: str,
    secret_arn: str,
    *,
    policy: RetryPolicy | None = None,
    secrets: SecretLoader = load_secret,
) -> RefundProcessor:
    """The Stripe or Adyen adapter with credentials from `secret_arn`.

    The simulated processor needs storage, not credentials: the composition root builds it.
    """
    if name == "stripe":
        return StripeProcessor(stripe_credentials(_secret(secrets, secret_arn)), policy=policy)
    if name == "adyen":
        return AdyenProcessor(adyen_credentials(_secret(secrets, secret_arn)), policy=policy)
    raise ValueError(f"unknown processor {name!r}")


def build_webhook_parser(
    name: str,
    secret_arn: str,
    *,
    secrets: SecretLoader = load_secret,
    simulated_secret: str = "",
    metrics: Counter | None = None,
) -> WebhookParser:
    """The signature-checking parser for `POST /webhooks/{name}`.

    The simulated processor's secret is a local setting (`SIMULATED_WEBHOOK_SECRET`), not part
    of the processor secret; empty, every simulated webhook is refused.
    """
    if name == "simulated":
        return SimulatedWebhooks(simulated_secret)
    if name == "stripe":
        credentials = stripe_credentials(_secret(secrets, secret_arn))
        if not credentials.webhook_secrets:
            raise CredentialsError("processor secret lacks 'stripe_webhook_secret'")
        return StripeWebhooks(
            credentials.webhook_secrets, api_version=credentials.api_version, metrics=metrics
        )
    if name == "adyen":
        adyen = adyen_credentials(_secret(secrets, secret_arn))
        if not adyen.hmac_keys:
            raise CredentialsError("processor secret lacks 'adyen_hmac_key'")
        return AdyenWebhooks(adyen.hmac_keys, adyen.merchant_account, metrics=metrics)
    raise ValueError(f"no webhooks for processor {name!r}")


def _secret(secrets: SecretLoader, secret_arn: str) -> Mapping[str, Any]:
    if not secret_arn:
        raise CredentialsError("PROCESSOR_SECRET_ARN is not set")
    return secrets(secret_arn)
