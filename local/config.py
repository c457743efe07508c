"""Where the local stack keeps its data and which ports it listens on (all loopback)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from refund_service.observability_names import METRICS_NAMESPACE, SERVICE_NAME
from refund_service.settings import (
    POWERTOOLS_VARIABLES,
    AnchorSettings,
    ApiSettings,
    FunctionSettings,
    ProcessorReconcilerSettings,
    ReconcilerSettings,
    StreamPublisherSettings,
    WebhookSettings,
)
from refund_service.storage.schema import AUDIT_TABLE, IDEMPOTENCY_TABLE, LEDGER_TABLE

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
REGION = "us-east-1"
ISSUER = "https://refund-service.local/"
AUDIENCE = "refund-service"
# Signs the simulated processor's webhooks; local only, so a fixed default is no secret.
WEBHOOK_SECRET = "whsec_local_simulated"  # noqa: S105
# The functions the local stack runs: the API and webhooks in its workers, the reconcilers,
# the change stream and `python -m local anchor` in its own process. It gives the union of
# their settings models' variables, so a new setting needs only its local value below.
LOCAL_FUNCTIONS: tuple[type[FunctionSettings], ...] = (
    ApiSettings,
    WebhookSettings,
    ReconcilerSettings,
    ProcessorReconcilerSettings,
    StreamPublisherSettings,
    AnchorSettings,
)


@dataclass(frozen=True)
class LocalConfig:
    data_dir: Path
    port: int
    dynamodb_port: int
    moto_port: int
    reconcile_seconds: float = 30.0
    # How often the change stream is read; the deployed mapping's batching window by default.
    stream_seconds: float = 1.0
    workers: int = 4  # function instances serving requests side by side
    simulator_seconds: float = 1.0  # how often the simulated processor decides and announces
    pending_seconds: float = 5.0  # how long the simulated processor leaves a refund pending
    webhook_secret: str = WEBHOOK_SECRET

    @classmethod
    def from_env(cls) -> LocalConfig:
        return cls(
            data_dir=Path(os.environ.get("LOCAL_DATA_DIR", ROOT / ".local")),
            port=int(os.environ.get("PORT", "8000")),
            dynamodb_port=int(os.environ.get("DYNAMODB_PORT", "8100")),
            moto_port=int(os.environ.get("MOTO_PORT", "8101")),
            reconcile_seconds=float(os.environ.get("RECONCILE_SECONDS", "30")),
            stream_seconds=float(os.environ.get("LOCAL_STREAM_SECONDS", "1")),
            workers=int(os.environ.get("LOCAL_WORKERS", "4")),
            simulator_seconds=float(os.environ.get("SIMULATOR_SECONDS", "1")),
            pending_seconds=float(os.environ.get("SIMULATED_PENDING_SECONDS", "5")),
            webhook_secret=os.environ.get("SIMULATED_WEBHOOK_SECRET") or WEBHOOK_SECRET,
        )

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def dynamodb_url(self) -> str:
        return f"http://{HOST}:{self.dynamodb_port}"

    @property
    def moto_url(self) -> str:
        return f"http://{HOST}:{self.moto_port}"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "jwt-signing-key.pem"

    @property
    def anchor_folder(self) -> Path:
        """Where the audit chain anchors go locally (the Object Lock bucket in AWS)."""
        return self.data_dir / "anchors"

    def setting_values(self, audit_key_id: str) -> dict[str, str]:
        """The local value of every setting the local functions may read. Variables left out
        (FX_RATES_TABLE_NAME: no feed offline) are optional in every local model."""
        return {
            "LEDGER_TABLE_NAME": LEDGER_TABLE.default_name,
            "AUDIT_TABLE_NAME": AUDIT_TABLE.default_name,
            "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE.default_name,
            "AUDIT_KEY_ID": audit_key_id,
            "REFUND_WINDOW_DAYS": os.environ.get("REFUND_WINDOW_DAYS", "180"),
            "FEE_POLICY": os.environ.get("FEE_POLICY", "none"),
            "PROCESSOR": "simulated",
            "CURRENCY_CONVERSION": os.environ.get("CURRENCY_CONVERSION", "false"),
            "PROCESSOR_SECRET_ARN": "",
            "SIMULATED_WEBHOOK_SECRET": self.webhook_secret,
            "RECONCILE_AFTER_MINUTES": "1",
            "STALE_PENDING_HOURS": "1",
            "ANCHOR_FOLDER": str(self.anchor_folder),
            "PROCESSOR_RECONCILE_WINDOW_HOURS": "48",
            # Named for the models' sake: the local change stream keeps its events in memory.
            "EVENT_BUS_NAME": "refund-service-local",
            **dict(zip(POWERTOOLS_VARIABLES, (SERVICE_NAME, METRICS_NAMESPACE), strict=True)),
        }

    def handler_environment(self, audit_key_id: str) -> dict[str, str]:
        """What the local functions read, as the CDK stack sets it, pointed at the local
        stand-ins: their settings models' variables, then the AWS endpoints."""
        values = self.setting_values(audit_key_id)
        variables = dict.fromkeys(name for model in LOCAL_FUNCTIONS for name in model.variables())
        return {name: values[name] for name in variables if name in values} | {
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_url,
            "AWS_ENDPOINT_URL_KMS": self.moto_url,
            "AWS_ENDPOINT_URL_MONITORING": self.moto_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }
