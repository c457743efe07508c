"""Configuration from CDK context is validated before anything is built."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App
from aws_cdk import aws_logs as logs

from refund_service.domain.allocation import FeePolicy
from stacks.app import build
from stacks.config import DEFAULTS, ConfigError, load_config
from tests.infra.conftest import cdk_json_context


def test_cdk_json_context_is_valid_and_complete() -> None:
    # Given the context committed in cdk.json
    context = cdk_json_context()

    # When it is loaded
    config = load_config(context)

    # Then every key is there explicitly and the defaults hold
    assert set(DEFAULTS) <= set(context)
    assert config.stage == "dev"
    assert config.fee_policy is FeePolicy.NONE
    assert config.processor == "simulated"
    assert not config.uses_external_identity_provider
    assert config.log_retention is logs.RetentionDays.THREE_MONTHS


def test_command_line_strings_are_accepted() -> None:
    # Given values as `cdk synth -c key=value` passes them: strings
    context = {
        "stage": "prod",
        "refund_window_days": "90",
        "fee_policy": "proportional",
        "processor": "stripe",
        "currency_conversion": "true",
        "jwt_issuer": "https://login.example.com/realm",
        "jwt_audience": "refunds-api, finance-tools",
        "log_retention_days": "365",
    }

    # When they are loaded
    config = load_config(context)

    # Then they are parsed to their types
    assert config.refund_window_days == 90
    assert config.fee_policy is FeePolicy.PROPORTIONAL
    assert config.currency_conversion is True
    assert config.jwt_audience == ("refunds-api", "finance-tools")
    assert config.uses_external_identity_provider


@pytest.mark.parametrize(
    ("key", "bad_value"),
    [
        ("stage", "Prod"),
        ("stage", "prod_eu"),
        ("refund_window_days", 0),
        ("refund_window_days", "ninety"),
        ("refund_window_days", True),
        ("fee_policy", "half"),
        ("processor", "paypal"),
        ("currency_conversion", "yes"),
        ("jwt_issuer", "http://login.example.com"),
        ("jwt_issuer", "https://"),
        ("jwt_issuer", "https://login.example.com/?tenant=payments"),
        ("jwt_issuer", "https://login.example.com/#top"),
        ("jwt_issuer", "ftp://login.example.com"),
        ("alarm_email", "not-an-address"),
        ("log_retention_days", 45),
        ("reconcile_after_minutes", -5),
        ("stale_pending_hours", "0"),
        ("api_throttle_rate", 0),
        ("processor_reconcile_window_hours", 0),
        ("audit_decryptor_role_arn", "arn:aws:iam::123456789012:user/alice"),
        ("audit_decryptor_role_arn", "audit-decryptor"),
    ],
)
def test_bad_value_is_refused_naming_the_key(key: str, bad_value: Any) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config({key: bad_value})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as refused:
        load_config({"fee_policy": "half", "processor": "paypal", "stage": "X"})

    for key in ("fee_policy", "processor", "stage"):
        assert key in str(refused.value)


@pytest.mark.parametrize(
    "context",
    [
        {"jwt_issuer": "https://login.example.com"},
        {"jwt_audience": ["refunds-api"]},
    ],
)
def test_issuer_and_audience_go_together(context: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="jwt_issuer and jwt_audience go together"):
        load_config(context)


def test_burst_below_rate_is_refused() -> None:
    with pytest.raises(ConfigError, match="api_throttle_burst"):
        load_config({"api_throttle_rate": 100, "api_throttle_burst": 10})


def test_the_app_refuses_to_build_with_bad_context() -> None:
    # Given an app whose context has a bad value
    app = App(context={**cdk_json_context(), "processor": "paypal"})

    # Then building it stops before any resource exists
    with pytest.raises(ConfigError, match="processor"):
        build(app)
    assert app.node.children == []


def test_audit_decryptor_is_optional_and_a_role_arn() -> None:
    role = "arn:aws:iam::123456789012:role/break-glass/AuditFieldDecryptor"

    assert load_config({}).audit_decryptor_role_arn == ""
    assert load_config({"audit_decryptor_role_arn": role}).audit_decryptor_role_arn == role


@pytest.mark.parametrize(
    "issuer",
    ["https://payments.eu.auth0.com/", "https://login.example.com/realms/payments"],
)
def test_issuer_is_kept_exactly_trailing_slash_included(issuer: str) -> None:
    # API Gateway compares `iss` byte for byte; Auth0's issuers end in "/"
    config = load_config({"jwt_issuer": issuer, "jwt_audience": ["refunds-api"]})

    assert config.jwt_issuer == issuer
