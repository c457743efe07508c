"""Deployment configuration: read from CDK context (cdk.json or `-c key=value`), validated at synth.

Values given on the command line arrive as strings, so numbers and booleans are accepted in
either form. Every problem is reported at once rather than the first one only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from refund_service.domain.allocation import FeePolicy
from refund_service.settings import PROCESSORS

# Powertools comes from the AWS-published layer, never from the asset. Keep this equal to the
# aws-lambda-powertools pin in requirements.txt (a test holds them together): the stack resolves
# the layer published for exactly this release (docs/decisions/0004-powertools-layer.md).
POWERTOOLS_LAYER_VERSION = "3.37.0"
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64


def powertools_layer_parameter() -> str:
    """The public SSM parameter holding the layer ARN of exactly POWERTOOLS_LAYER_VERSION."""
    return (
        f"/aws/service/powertools/python/{LAMBDA_ARCHITECTURE.name}/"
        f"{LAMBDA_RUNTIME.name}/{POWERTOOLS_LAYER_VERSION}"
    )


RETENTION_BY_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


class ConfigError(ValueError):
    """One or more context values are missing or malformed."""


@dataclass(frozen=True)
class ServiceConfig:
    stage: str
    refund_window_days: int
    fee_policy: FeePolicy
    processor: str
    currency_conversion: bool
    jwt_issuer: str
    jwt_audience: tuple[str, ...]
    alarm_email: str
    log_retention_days: int
    reconcile_after_minutes: int
    stale_pending_hours: int
    processor_reconcile_window_hours: int
    api_throttle_rate: int
    api_throttle_burst: int
    # POST /webhooks/{processor}'s own route limits: processors retry, so a flood costs them
    # nothing and a lower limit keeps it from taking the API's capacity.
    webhook_throttle_rate: int
    webhook_throttle_burst: int
    # One reserved instance per scheduled function, so two runs can never overlap. Off by
    # default: reserving needs unreserved concurrency to spare, which a new account's quota of
    # 10 does not have, and the deploy fails.
    reserve_scheduled_concurrency: bool
    # The one principal that may decrypt audit fields (break-glass); empty: nobody may.
    audit_decryptor_role_arn: str

    @property
    def uses_external_identity_provider(self) -> bool:
        """True when tokens come from an existing issuer; otherwise the stack creates Cognito."""
        return bool(self.jwt_issuer)

    @property
    def log_retention(self) -> logs.RetentionDays:
        return RETENTION_BY_DAYS[self.log_retention_days]


class _Reader:
    """Parses each key once, collecting every error instead of stopping at the first."""

    def __init__(self, values: Mapping[str, Any]):
        self._values = values
        self.errors: list[str] = []

    def read(self, key: str, option: Option) -> Any:
        raw = self._values.get(key)
        if raw is None:
            raw = option.default
        try:
            return option.parse(raw)
        except (TypeError, ValueError) as error:
            self.errors.append(f"{key}: {error}")
            return option.parse(option.default)


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool) or not (
            isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit())
        ):
            raise ValueError(f"must be an integer, got {raw!r}")
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if raw in ("true", "false"):
        return bool(raw == "true")
    raise ValueError(f"must be true or false, got {raw!r}")


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        if raw not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {raw!r}")
        return str(raw)

    return parse


def _matching(pattern: re.Pattern[str], what: str, optional: bool = False) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        if optional and raw == "":
            return ""
        if not isinstance(raw, str) or not pattern.match(raw):
            raise ValueError(f"must be {what}, got {raw!r}")
        return raw

    return parse


def _issuer(raw: Any) -> str:
    """Kept exactly as given: API Gateway compares the token's `iss` with it byte for byte, and
    some providers end theirs in `/` (Auth0: `https://tenant.auth0.com/`)."""
    if raw == "":
        return ""
    if not isinstance(raw, str):
        raise ValueError(f"must be an https:// URL, got {raw!r}")
    url = urlsplit(raw)
    if url.scheme != "https" or not url.hostname:
        raise ValueError(f"must be an https:// URL with a host, got {raw!r}")
    if "?" in raw or "#" in raw:
        raise ValueError(f"must have no query or fragment, got {raw!r}")
    return raw


def _audience(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise ValueError(f"must be a list of non-empty strings, got {raw!r}")
    return tuple(raw)


def _retention(raw: Any) -> int:
    days = _integer(1, 3653)(raw)
    if days not in RETENTION_BY_DAYS:
        raise ValueError(f"must be one of CloudWatch's retention periods {list(RETENTION_BY_DAYS)}")
    return days


def _fee_policy(raw: Any) -> FeePolicy:
    return FeePolicy(_one_of(tuple(policy.value for policy in FeePolicy))(raw))


@dataclass(frozen=True)
class Option:
    default: Any
    parse: Callable[[Any], Any]


# Every context key: its default and how it is parsed, in ServiceConfig's field order. A key
# whose name, in capitals, is a variable a function's settings model reads is passed to that
# function as it is (stacks/constructs/functions.py): `refund_window_days` -> REFUND_WINDOW_DAYS.
OPTIONS: dict[str, Option] = {
    "stage": Option("dev", _matching(_STAGE, "lowercase letters, digits and dashes")),
    "refund_window_days": Option(180, _integer(1, 3650)),
    "fee_policy": Option(FeePolicy.NONE.value, _fee_policy),
    "processor": Option("simulated", _one_of(PROCESSORS)),
    "currency_conversion": Option(False, _boolean),
    "jwt_issuer": Option("", _issuer),
    "jwt_audience": Option([], _audience),
    "alarm_email": Option("", _matching(_EMAIL, "an e-mail address", True)),
    "log_retention_days": Option(90, _retention),
    "reconcile_after_minutes": Option(5, _integer(1, 1440)),
    "stale_pending_hours": Option(24, _integer(1, 720)),
    "processor_reconcile_window_hours": Option(48, _integer(1, 720)),
    "api_throttle_rate": Option(50, _integer(1, 10_000)),
    "api_throttle_burst": Option(100, _integer(1, 5_000)),
    "webhook_throttle_rate": Option(10, _integer(1, 10_000)),
    "webhook_throttle_burst": Option(20, _integer(1, 5_000)),
    "reserve_scheduled_concurrency": Option(False, _boolean),
    "audit_decryptor_role_arn": Option("", _matching(_ROLE_ARN, "an IAM role ARN", True)),
}
DEFAULTS: dict[str, Any] = {key: option.default for key, option in OPTIONS.items()}


def load_config(context: Mapping[str, Any]) -> ServiceConfig:
    """The validated configuration; raises ConfigError naming every bad value."""
    reader = _Reader(context)
    config = ServiceConfig(**{key: reader.read(key, option) for key, option in OPTIONS.items()})
    reader.errors += _cross_field_errors(config)
    if reader.errors:
        raise ConfigError("invalid configuration: " + "; ".join(reader.errors))
    return config


def _cross_field_errors(config: ServiceConfig) -> list[str]:
    errors = []
    if bool(config.jwt_issuer) != bool(config.jwt_audience):
        errors.append(
            "jwt_issuer and jwt_audience go together: set both to use an existing identity "
            "provider, or neither to have the stack create a Cognito user pool"
        )
    if config.api_throttle_burst < config.api_throttle_rate:
        errors.append("api_throttle_burst must be at least api_throttle_rate")
    if config.webhook_throttle_burst < config.webhook_throttle_rate:
        errors.append("webhook_throttle_burst must be at least webhook_throttle_rate")
    return errors


def context_values(read: Callable[[str], Any]) -> dict[str, Any]:
    """Every configuration key as the CDK app sees it (`read` is `node.try_get_context`)."""
    return {key: read(key) for key in DEFAULTS}
