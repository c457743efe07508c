"""Processor minor units, credentials from the secret, and the factory."""

from __future__ import annotations

import json
from typing import Any

import pytest

from refund_service.adapters.processors import credentials as credentials_module
from refund_service.adapters.processors.adyen import AdyenProcessor
from refund_service.adapters.processors.amounts import (
    ADYEN_EXPONENTS,
    STRIPE_EXPONENTS,
    UnrepresentableAmountError,
    from_processor_units,
    to_processor_units,
)
from refund_service.adapters.processors.credentials import (
    STRIPE_API_BASE,
    CredentialsError,
    adyen_credentials,
    load_secret,
    stripe_credentials,
)
from refund_service.adapters.processors.factory import (
    build_vendor_processor,
    build_webhook_parser,
)
from refund_service.adapters.processors.stripe import StripeProcessor
from refund_service.adapters.processors.webhooks_adyen import AdyenWebhooks, adyen_signature
from refund_service.adapters.processors.webhooks_stripe import StripeWebhooks

SECRET = {
    "stripe_api_key": "sk_live_abc",
    "stripe_webhook_secret": "whsec_1",
    "adyen_api_key": "AQE_xyz",
    "adyen_merchant_account": "Merchant",
    "adyen_hmac_key": "AB" * 32,
    "adyen_base_url": "https://checkout-test.adyen.com/v71",
}


@pytest.mark.parametrize(
    ("amount", "currency", "table", "sent"),
    [
        (1000, "USD", STRIPE_EXPONENTS, 1000),
        (500, "JPY", STRIPE_EXPONENTS, 500),
        (1234, "KWD", STRIPE_EXPONENTS, 1234),
        (500, "ISK", STRIPE_EXPONENTS, 50000),
        (1500, "MGA", STRIPE_EXPONENTS, 15),
        (500, "CLP", ADYEN_EXPONENTS, 50000),
        (500, "ISK", ADYEN_EXPONENTS, 50000),
        (1500, "IDR", ADYEN_EXPONENTS, 15),
        (1500, "CVE", ADYEN_EXPONENTS, 15),
        (500, "CLP", STRIPE_EXPONENTS, 500),
    ],
)
def test_amounts_scale_exactly_both_ways(
    amount: int, currency: str, table: dict[str, int], sent: int
) -> None:
    assert to_processor_units(amount, currency, table) == sent
    assert from_processor_units(sent, currency, table) == amount


def test_an_amount_finer_than_the_processor_unit_is_refused() -> None:
    with pytest.raises(UnrepresentableAmountError):
        to_processor_units(1550, "IDR", ADYEN_EXPONENTS)
    with pytest.raises(UnrepresentableAmountError):
        from_processor_units(50001, "ISK", STRIPE_EXPONENTS)


def test_stripe_credentials_with_defaults() -> None:
    creds = stripe_credentials(SECRET)
    assert creds.api_key == "sk_live_abc"
    assert creds.webhook_secrets == ("whsec_1",)
    assert creds.base_url == STRIPE_API_BASE
    assert creds.api_version == "2026-10-28.endive"


def test_previous_webhook_secrets_are_kept_for_rotation() -> None:
    secret = {
        **SECRET,
        "stripe_webhook_secret_previous": "whsec_0",
        "adyen_hmac_key_previous": "CD" * 32,
    }
    assert stripe_credentials(secret).webhook_secrets == ("whsec_1", "whsec_0")
    assert adyen_credentials(secret).hmac_keys == ("AB" * 32, "CD" * 32)


def test_secrets_never_appear_in_a_repr() -> None:
    text = repr(stripe_credentials(SECRET)) + repr(adyen_credentials(SECRET))
    for value in ("sk_live_abc", "whsec_1", "AQE_xyz", "AB" * 32):
        assert value not in text


@pytest.mark.parametrize("missing", ["adyen_api_key", "adyen_merchant_account", "adyen_base_url"])
def test_adyen_credentials_need_every_required_key(missing: str) -> None:
    secret = {k: v for k, v in SECRET.items() if k != missing}
    with pytest.raises(CredentialsError, match=missing):
        adyen_credentials(secret)


def test_a_missing_stripe_key_is_named_without_any_value() -> None:
    with pytest.raises(CredentialsError, match="stripe_api_key") as raised:
        stripe_credentials({**SECRET, "stripe_api_key": ""})
    assert "whsec_1" not in str(raised.value)


def test_the_secret_is_read_through_powertools_with_a_five_minute_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def fake_get_secret(name: str, **kwargs: Any) -> dict[str, Any]:
        calls.append((name, kwargs))
        return dict(SECRET)

    from aws_lambda_powertools.utilities import parameters

    monkeypatch.setattr(parameters, "get_secret", fake_get_secret)
    assert load_secret("arn:aws:secretsmanager:eu-west-1:1:secret:proc") == SECRET
    assert calls == [
        (
            "arn:aws:secretsmanager:eu-west-1:1:secret:proc",
            {"transform": "json", "max_age": credentials_module.SECRET_MAX_AGE_SECONDS},
        )
    ]
    assert credentials_module.SECRET_MAX_AGE_SECONDS == 300


def test_a_secret_that_is_not_an_object_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters

    monkeypatch.setattr(parameters, "get_secret", lambda name, **kwargs: "plain")
    with pytest.raises(CredentialsError):
        load_secret("arn")


def secrets_from(values: dict[str, Any]) -> Any:
    return lambda arn: values


def test_the_factory_builds_each_vendor() -> None:
    loader = secrets_from(SECRET)
    assert isinstance(build_vendor_processor("stripe", "arn", secrets=loader), StripeProcessor)
    assert isinstance(build_vendor_processor("adyen", "arn", secrets=loader), AdyenProcessor)
    assert isinstance(build_webhook_parser("stripe", "arn", secrets=loader), StripeWebhooks)
    assert isinstance(build_webhook_parser("adyen", "arn", secrets=loader), AdyenWebhooks)


@pytest.mark.parametrize("name", ["simulated", "paypal"])
def test_the_factory_builds_vendors_only(name: str) -> None:
    with pytest.raises(ValueError, match="unknown processor"):
        build_vendor_processor(name, "arn", secrets=secrets_from(SECRET))


def test_the_factory_needs_the_secret_arn() -> None:
    with pytest.raises(CredentialsError, match="PROCESSOR_SECRET_ARN"):
        build_vendor_processor("stripe", "", secrets=secrets_from(SECRET))


@pytest.mark.parametrize(
    ("name", "key"), [("stripe", "stripe_webhook_secret"), ("adyen", "adyen_hmac_key")]
)
def test_webhooks_need_their_signing_secret(name: str, key: str) -> None:
    secret = {k: v for k, v in SECRET.items() if k != key}
    with pytest.raises(CredentialsError, match=key):
        build_webhook_parser(name, "arn", secrets=secrets_from(secret))


def test_the_adyen_parser_accepts_only_the_secrets_merchant_account() -> None:
    parser = build_webhook_parser("adyen", "arn", secrets=secrets_from(SECRET))
    item = {
        "eventCode": "REFUND",
        "success": "true",
        "pspReference": "P1",
        "merchantReference": "txn_1-REFUND",
        "amount": {"value": 100, "currency": "EUR"},
    }
    bodies = {}
    for account in ("Merchant", "OtherMerchant"):
        signed = {**item, "merchantAccountCode": account}
        signed["additionalData"] = {
            "hmacSignature": adyen_signature(signed, SECRET["adyen_hmac_key"])
        }
        bodies[account] = json.dumps({"notificationItems": [{"NotificationRequestItem": signed}]})
    assert [e.refund_id for e in parser.parse({}, bodies["Merchant"].encode())] == ["txn_1-REFUND"]
    assert parser.parse({}, bodies["OtherMerchant"].encode()) == []
