"""Configuration read from the environment, validated once per process.

Each handler names the variables it reads (its `ENVIRONMENT`); the CDK stack sets exactly
those, and a test holds the two together.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from refund_service.domain.allocation import FeePolicy
from refund_service.domain.eligibility import DEFAULT_REFUND_WINDOW_DAYS

PROCESSORS = ("simulated", "stripe", "adyen")


class SettingsError(ValueError):
    """An environment variable is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    ledger_table: str = "PaymentLedger"
    audit_table: str = "PaymentAuditTrail"
    idempotency_table: str = "RefundIdempotency"
    audit_key_id: str = ""
    refund_window_days: int = DEFAULT_REFUND_WINDOW_DAYS
    fee_policy: FeePolicy = FeePolicy.NONE
    processor: str = "simulated"
    currency_conversion: bool = False
    processor_secret_arn: str = ""
    reconcile_after_minutes: int = 5
    stale_pending_hours: int = 24
    # Signs the simulated processor's webhooks; empty refuses every one of them.
    simulated_webhook_secret: str = ""
    # Processor reconciliation: how far back each run compares the processor's refunds.
    processor_reconcile_window_hours: int = 48
    # Where the hourly anchors of the audit chain heads go: an S3 bucket in AWS; a folder
    # (`.local/anchors`) when ANCHOR_FOLDER is set instead, as the local stack does.
    anchor_bucket: str = ""
    anchor_folder: str = ""
    # The stored ECB daily rates; empty: none (the bundled history serves every quote).
    fx_rates_table: str = ""
    # Where the change-stream publisher puts refund events (SPEC 4.2).
    event_bus_name: str = ""


# Settings field -> environment variable.
VARIABLES = {
    "ledger_table": "LEDGER_TABLE_NAME",
    "audit_table": "AUDIT_TABLE_NAME",
    "idempotency_table": "IDEMPOTENCY_TABLE_NAME",
    "audit_key_id": "AUDIT_KEY_ID",
    "refund_window_days": "REFUND_WINDOW_DAYS",
    "fee_policy": "FEE_POLICY",
    "processor": "PROCESSOR",
    "currency_conversion": "CURRENCY_CONVERSION",
    "processor_secret_arn": "PROCESSOR_SECRET_ARN",
    "reconcile_after_minutes": "RECONCILE_AFTER_MINUTES",
    "stale_pending_hours": "STALE_PENDING_HOURS",
    "simulated_webhook_secret": "SIMULATED_WEBHOOK_SECRET",
    "processor_reconcile_window_hours": "PROCESSOR_RECONCILE_WINDOW_HOURS",
    "anchor_bucket": "ANCHOR_BUCKET_NAME",
    "anchor_folder": "ANCHOR_FOLDER",
    "fx_rates_table": "FX_RATES_TABLE_NAME",
    "event_bus_name": "EVENT_BUS_NAME",
}
# Read only by the local stack: no deployed function is given these (the simulated processor
# is local), and the stack's environment contract leaves them out.
LOCAL_ONLY_VARIABLES = ("SIMULATED_WEBHOOK_SECRET", "ANCHOR_FOLDER")
POWERTOOLS_VARIABLES = ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE")


def _positive_int(name: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) <= 0:
        raise SettingsError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def _parse(field: str, name: str, raw: str) -> object:
    if field in (
        "refund_window_days",
        "reconcile_after_minutes",
        "stale_pending_hours",
        "processor_reconcile_window_hours",
    ):
        return _positive_int(name, raw)
    if field == "fee_policy":
        try:
            return FeePolicy(raw)
        except ValueError:
            raise SettingsError(f"{name} must be one of {[p.value for p in FeePolicy]}") from None
    if field == "currency_conversion":
        if raw not in ("true", "false"):
            raise SettingsError(f"{name} must be 'true' or 'false', got {raw!r}")
        return raw == "true"
    if field == "processor" and raw not in PROCESSORS:
        raise SettingsError(f"{name} must be one of {PROCESSORS}, got {raw!r}")
    return raw


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the variables that are set; defaults for the others."""
    environ = os.environ if environ is None else environ
    values = {}
    for field, name in VARIABLES.items():
        if name in environ:
            values[field] = _parse(field, name, environ[name])
    return Settings(**values)  # type: ignore[arg-type]
