"""Processor credentials from one JSON secret in Secrets Manager, cached for five minutes.

Secret keys (only those of the configured processor are needed):

    stripe_api_key, stripe_webhook_secret, [stripe_webhook_secret_previous],
    [stripe_base_url], [stripe_api_version]
    adyen_api_key, adyen_merchant_account, adyen_base_url, adyen_hmac_key,
    [adyen_hmac_key_previous]

The `_previous` keys let webhooks signed with the old secret pass while a rotation propagates.
Values never appear in a repr or an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SECRET_MAX_AGE_SECONDS = 300
STRIPE_API_BASE = "https://api.stripe.com"
# Objects are read in the shape of this version; the webhook endpoint must use the same one.
# It is the version of the `stripe` SDK pinned in requirements-dev.txt, which a test checks
# (docs/processors.md, "Moving to a new Stripe API version").
STRIPE_API_VERSION = "2026-10-28.endive"


# What an operator must fill in, per processor; the CDK stack writes these keys into the
# secret's initial template.
REQUIRED_SECRET_KEYS: dict[str, tuple[str, ...]] = {
    "simulated": (),
    "stripe": ("stripe_api_key", "stripe_webhook_secret"),
    "adyen": ("adyen_api_key", "adyen_merchant_account", "adyen_base_url", "adyen_hmac_key"),
}


class CredentialsError(ValueError):
    """The secret is missing a key or holds a malformed value."""


@dataclass(frozen=True)
class StripeCredentials:
    api_key: str = field(repr=False)
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    base_url: str = STRIPE_API_BASE
    api_version: str = STRIPE_API_VERSION


@dataclass(frozen=True)
class AdyenCredentials:
    api_key: str = field(repr=False)
    merchant_account: str
    base_url: str  # e.g. https://checkout-test.adyen.com/v71, or the live prefix URL
    hmac_keys: tuple[str, ...] = field(default=(), repr=False)


def load_secret(secret_id: str) -> dict[str, Any]:
    """The secret's JSON object, through Powertools' cache (refetched after five minutes)."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - only in AWS

    value = parameters.get_secret(secret_id, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    if not isinstance(value, dict):
        raise CredentialsError(f"secret {secret_id!r} is not a JSON object")
    return value


def _required(secret: Mapping[str, Any], key: str) -> str:
    value = secret.get(key)
    if not isinstance(value, str) or not value:
        raise CredentialsError(f"processor secret lacks a non-empty string {key!r}")
    return value


def _optional(secret: Mapping[str, Any], key: str, default: str) -> str:
    value = secret.get(key)
    return value if isinstance(value, str) and value else default


def _present(secret: Mapping[str, Any], *keys: str) -> tuple[str, ...]:
    return tuple(v for k in keys if isinstance(v := secret.get(k), str) and v)


def stripe_credentials(secret: Mapping[str, Any]) -> StripeCredentials:
    return StripeCredentials(
        api_key=_required(secret, "stripe_api_key"),
        webhook_secrets=_present(secret, "stripe_webhook_secret", "stripe_webhook_secret_previous"),
        base_url=_optional(secret, "stripe_base_url", STRIPE_API_BASE),
        api_version=_optional(secret, "stripe_api_version", STRIPE_API_VERSION),
    )


def adyen_credentials(secret: Mapping[str, Any]) -> AdyenCredentials:
    return AdyenCredentials(
        api_key=_required(secret, "adyen_api_key"),
        merchant_account=_required(secret, "adyen_merchant_account"),
        base_url=_required(secret, "adyen_base_url"),
        hmac_keys=_present(secret, "adyen_hmac_key", "adyen_hmac_key_previous"),
    )
