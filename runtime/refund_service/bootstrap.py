"""The composition root: each function's collaborators, built from its settings model.

`build_services` makes the service layer's Services; one small builder per function adds what
that function uses besides. Every part can be injected (a test's store, processor, metrics or
clock); what is not injected is the real collaborator the settings name. Handlers build once per
process, the local stack and the test worlds call the same builders.

Adapters a function does not use are imported inside its builder, so a function pays the import
cost only of what it runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refund_service.adapters.dynamodb.ledger_store import DynamoDBLedgerStore
from refund_service.adapters.ecb_rates import EcbRateSource, StoredEcbRateSource
from refund_service.domain.eligibility import RefundPolicy
from refund_service.domain.fx import RateSource
from refund_service.domain.processor import RefundProcessor
from refund_service.service.context import ServicePolicy, Services, utc_now
from refund_service.service.ports import FieldEncryptor, LedgerStore, MetricsSink
from refund_service.settings import (
    AnchorLocation,
    AnchorSettings,
    ApiSettings,
    FxRatesSettings,
    ProcessorReconcilerSettings,
    ReconcilerSettings,
    ServiceSettings,
    StreamPublisherSettings,
    VerifierSettings,
    WebhookSettings,
)

if TYPE_CHECKING:
    from refund_service.adapters.dynamodb.coordination import DynamoDBLease
    from refund_service.adapters.dynamodb.fx_rates import DynamoDBRatesStore
    from refund_service.api.runtime import ApiRuntime
    from refund_service.service.anchoring import AnchorStore
    from refund_service.service.events import EventSink
    from refund_service.service.fx_rates import RatesStore
    from refund_service.service.reconciler import Checkpoints, PendingWindow
    from refund_service.service.verification import SegmentScanner
    from refund_service.service.webhooks import WebhookEventLog

_session_lock = threading.Lock()


@cache
def aws_session() -> Any:
    """One boto3 Session per process: a Session per client cost ~110 ms more cold start."""
    import boto3  # noqa: PLC0415 - boto3 is the heaviest import; only pay for it when used

    return boto3.session.Session()


@cache
def aws_client(service: str) -> Any:
    """One client per service per process; endpoints may be overridden by AWS_ENDPOINT_URL_*."""
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
    )
    # A Session is not thread-safe: the local stack's threads may ask for clients at once.
    with _session_lock:
        return aws_session().client(service, config=config)


def _default_metrics() -> MetricsSink:
    from refund_service.observability import PowertoolsMetricsSink  # noqa: PLC0415

    return PowertoolsMetricsSink()


def build_processor(settings: ServiceSettings) -> RefundProcessor:
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


def build_rates(fx_rates_table: str) -> EcbRateSource | StoredEcbRateSource:
    """The stored daily feed when a table is configured; the bundled history if not."""
    if not fx_rates_table:
        return EcbRateSource()
    return StoredEcbRateSource(build_rates_store(fx_rates_table))


def build_rates_store(fx_rates_table: str) -> DynamoDBRatesStore:
    from refund_service.adapters.dynamodb.fx_rates import DynamoDBRatesStore  # noqa: PLC0415

    return DynamoDBRatesStore(aws_client("dynamodb"), fx_rates_table)


def build_policy(settings: ServiceSettings) -> ServicePolicy:
    """The API's refund policy from its settings; the defaults for every other function, which
    never decides on a new refund."""
    if not isinstance(settings, ApiSettings):
        return ServicePolicy()
    return ServicePolicy(
        refund=RefundPolicy(window_days=settings.refund_window_days),
        fee_policy=settings.fee_policy,
        currency_conversion=settings.currency_conversion,
    )


def build_ledger_store(ledger_table: str, audit_table: str) -> DynamoDBLedgerStore:
    return DynamoDBLedgerStore(aws_client("dynamodb"), ledger_table, audit_table)


def build_services(
    settings: ServiceSettings,
    *,
    store: LedgerStore | None = None,
    processor: RefundProcessor | None = None,
    metrics: MetricsSink | None = None,
    clock: Callable[[], datetime] | None = None,
    rates: RateSource | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Services:
    """The service layer's collaborators; each part given is used as is."""
    if store is None:
        store = build_ledger_store(settings.ledger_table, settings.audit_table)
    if rates is None:
        rates = build_rates(settings.fx_rates_table if isinstance(settings, ApiSettings) else "")
    return Services(
        store=store,
        processor=processor if processor is not None else build_processor(settings),
        rates=rates,
        policy=build_policy(settings),
        metrics=metrics if metrics is not None else _default_metrics(),
        clock=clock if clock is not None else utc_now,
        sleep=sleep if sleep is not None else time.sleep,
    )


def build_encryptor(settings: ApiSettings) -> FieldEncryptor:
    from refund_service.adapters.kms_envelope import KmsEnvelopeEncryptor  # noqa: PLC0415

    return KmsEnvelopeEncryptor(aws_client("kms"), settings.audit_key_id)


# --- One builder per function ------------------------------------------------------------------


def build_api_runtime(
    settings: ApiSettings,
    *,
    services: Services | None = None,
    encryptor: FieldEncryptor | None = None,
) -> ApiRuntime:
    from refund_service.api.refund_creation import RefundCreator  # noqa: PLC0415
    from refund_service.api.runtime import ApiRuntime  # noqa: PLC0415

    services = services if services is not None else build_services(settings)
    creator = RefundCreator(services, settings.idempotency_table, aws_client("dynamodb"))
    return ApiRuntime(
        services, creator, encryptor if encryptor is not None else build_encryptor(settings)
    )


@dataclass(frozen=True)
class WebhookRuntime:
    settings: WebhookSettings
    services: Services
    event_log: WebhookEventLog  # the processor event ids already acted on


def build_webhooks(
    settings: WebhookSettings,
    *,
    services: Services | None = None,
    event_log: WebhookEventLog | None = None,
) -> WebhookRuntime:
    from refund_service.adapters.dynamodb.event_log import DynamoDBEventLog  # noqa: PLC0415

    return WebhookRuntime(
        settings,
        services if services is not None else build_services(settings),
        event_log
        if event_log is not None
        else DynamoDBEventLog(aws_client("dynamodb"), settings.idempotency_table),
    )


@dataclass(frozen=True)
class ReconcilerRuntime:
    settings: ReconcilerSettings
    services: Services
    lease: DynamoDBLease
    window: PendingWindow
    checkpoints: Checkpoints


def build_reconciler(
    settings: ReconcilerSettings, *, services: Services | None = None
) -> ReconcilerRuntime:
    from refund_service.adapters.dynamodb.coordination import (  # noqa: PLC0415
        DynamoDBCheckpoints,
        DynamoDBLease,
    )
    from refund_service.adapters.dynamodb.pending_window import (  # noqa: PLC0415
        DynamoDBPendingWindow,
    )

    client = aws_client("dynamodb")
    return ReconcilerRuntime(
        settings,
        services if services is not None else build_services(settings),
        DynamoDBLease(client, settings.idempotency_table, "reconciler"),
        DynamoDBPendingWindow(client, settings.ledger_table),
        DynamoDBCheckpoints(client, settings.idempotency_table),
    )


@dataclass(frozen=True)
class ProcessorReconcilerRuntime:
    settings: ProcessorReconcilerSettings
    services: Services


def build_processor_reconciler(
    settings: ProcessorReconcilerSettings, *, services: Services | None = None
) -> ProcessorReconcilerRuntime:
    return ProcessorReconcilerRuntime(
        settings, services if services is not None else build_services(settings)
    )


def build_anchor_store(settings: AnchorLocation) -> AnchorStore | None:
    """The bucket in AWS, the local folder when one is configured; None when neither is."""
    from refund_service.adapters.anchor_stores import (  # noqa: PLC0415
        FolderAnchorStore,
        S3AnchorStore,
    )

    if settings.anchor_folder:
        return FolderAnchorStore(Path(settings.anchor_folder))
    if settings.anchor_bucket:
        return S3AnchorStore(aws_client("s3"), settings.anchor_bucket)
    return None


@dataclass(frozen=True)
class VerifierRuntime:
    settings: VerifierSettings
    store: LedgerStore
    scanner: SegmentScanner
    checkpoints: Checkpoints
    lease: Callable[[str], DynamoDBLease]  # the lease of one group of segments, by name
    anchors: AnchorStore | None  # cached per run; None: the chains are checked without them


def build_verifier(
    settings: VerifierSettings,
    *,
    store: LedgerStore | None = None,
    anchors: AnchorStore | None = None,
) -> VerifierRuntime:
    from refund_service.adapters.dynamodb.coordination import (  # noqa: PLC0415
        DynamoDBCheckpoints,
        DynamoDBLease,
    )
    from refund_service.adapters.dynamodb.segment_scan import (  # noqa: PLC0415
        DynamoDBSegmentScanner,
    )

    client = aws_client("dynamodb")
    return VerifierRuntime(
        settings,
        store
        if store is not None
        else build_ledger_store(settings.ledger_table, settings.audit_table),
        DynamoDBSegmentScanner(client, settings.ledger_table),
        DynamoDBCheckpoints(client, settings.idempotency_table),
        lambda name: DynamoDBLease(client, settings.idempotency_table, name),
        anchors if anchors is not None else build_anchor_store(settings),
    )


@dataclass(frozen=True)
class StreamPublisherRuntime:
    store: LedgerStore
    events: EventSink
    metrics: MetricsSink


def build_stream_publisher(
    settings: StreamPublisherSettings,
    *,
    store: LedgerStore | None = None,
    events: EventSink | None = None,
    metrics: MetricsSink | None = None,
) -> StreamPublisherRuntime:
    from refund_service.adapters.eventbridge import EventBridgeSink  # noqa: PLC0415

    return StreamPublisherRuntime(
        store
        if store is not None
        else build_ledger_store(settings.ledger_table, settings.audit_table),
        events
        if events is not None
        else EventBridgeSink(aws_client("events"), settings.event_bus_name),
        metrics if metrics is not None else _default_metrics(),
    )


@dataclass(frozen=True)
class AnchorRuntime:
    ledger: DynamoDBLedgerStore  # read for the chain heads that changed in each hour
    anchors: AnchorStore


def build_anchor(settings: AnchorSettings, *, anchors: AnchorStore | None = None) -> AnchorRuntime:
    found = anchors if anchors is not None else build_anchor_store(settings)
    assert found is not None  # AnchorSettings refuses to exist without a bucket or a folder
    return AnchorRuntime(build_ledger_store(settings.ledger_table, ""), found)


def build_fx_rates(settings: FxRatesSettings) -> RatesStore:
    return build_rates_store(settings.fx_rates_table)
