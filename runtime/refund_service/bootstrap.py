"""The composition root: real collaborators built from settings, once per process."""

from __future__ import annotations

from functools import cache
from typing import Any

from refund_service.adapters.dynamodb.ledger_store import DynamoDBLedgerStore
from refund_service.adapters.ecb_rates import EcbRateSource, StoredEcbRateSource
from refund_service.adapters.kms_envelope import KmsEnvelopeEncryptor
from refund_service.domain.eligibility import RefundPolicy
from refund_service.domain.processor import RefundProcessor
from refund_service.service.context import ServicePolicy, Services
from refund_service.service.ports import FieldEncryptor, MetricsSink
from refund_service.settings import Settings


@cache
def aws_client(service: str) -> Any:
    """One client per service per process; endpoints may be overridden by AWS_ENDPOINT_URL_*."""
    import boto3  # noqa: PLC0415 - boto3 is the heaviest import; only pay for it when used
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
    )
    return boto3.session.Session().client(service, config=config)


def build_processor(settings: Settings) -> RefundProcessor:
    if settings.processor == "simulated":
        from refund_service.adapters.processors.simulated import (  # noqa: PLC0415
            DynamoDBSimulatorMemory,
            SimulatedProcessor,
        )

        memory = DynamoDBSimulatorMemory(aws_client("dynamodb"), settings.idempotency_table)
        # Its webhooks exist only where a local stack delivers them, the one place that sets
        # their secret; elsewhere a pending refund is decided when looked up.
        return SimulatedProcessor(memory, announce=bool(settings.simulated_webhook_secret))
    from refund_service.adapters.processors.factory import (  # noqa: PLC0415
        build_vendor_processor,
    )

    return build_vendor_processor(settings.processor, settings.processor_secret_arn)


def build_rates(settings: Settings) -> EcbRateSource | StoredEcbRateSource:
    """The stored daily feed when the stack configures its table; the bundled history if not."""
    if not settings.fx_rates_table:
        return EcbRateSource()
    from refund_service.adapters.dynamodb.fx_rates import DynamoDBRatesStore  # noqa: PLC0415

    return StoredEcbRateSource(DynamoDBRatesStore(aws_client("dynamodb"), settings.fx_rates_table))


def build_services(settings: Settings, metrics: MetricsSink | None = None) -> Services:
    store = DynamoDBLedgerStore(aws_client("dynamodb"), settings.ledger_table, settings.audit_table)
    policy = ServicePolicy(
        refund=RefundPolicy(window_days=settings.refund_window_days),
        fee_policy=settings.fee_policy,
        currency_conversion=settings.currency_conversion,
    )
    services = Services(
        store=store, processor=build_processor(settings), rates=build_rates(settings), policy=policy
    )
    if metrics is not None:
        services.metrics = metrics
    return services


def build_encryptor(settings: Settings) -> FieldEncryptor:
    return KmsEnvelopeEncryptor(aws_client("kms"), settings.audit_key_id)
