"""The composition root and the settings models: each function gets the parts it is given, the
real ones otherwise, and settings that name every missing variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from local.config import LOCAL_FUNCTIONS, LocalConfig
from refund_service import bootstrap
from refund_service.adapters.dynamodb.ledger_store import DynamoDBLedgerStore
from refund_service.adapters.ecb_rates import EcbRateSource, StoredEcbRateSource
from refund_service.adapters.processors.simulated import (
    InMemorySimulatorMemory,
    SimulatedProcessor,
)
from refund_service.domain.allocation import FeePolicy
from refund_service.handlers import (
    anchor,
    api,
    fx_rates,
    processor_reconciler,
    reconciler,
    stream_publisher,
    verifier,
    webhooks,
)
from refund_service.observability import PowertoolsMetricsSink
from refund_service.service.context import Services
from refund_service.settings import (
    LOCAL_ONLY_VARIABLES,
    AnchorSettings,
    ApiSettings,
    FunctionSettings,
    ReconcilerSettings,
    SettingsError,
    StreamPublisherSettings,
    VerifierSettings,
    WebhookSettings,
)
from tests.support.environments import API_ENVIRON, SERVICE_ENVIRON
from tests.support.memory_store import InMemoryLedgerStore
from tests.support.world import MutableClock, RecordingMetrics

HANDLERS = (
    api,
    webhooks,
    reconciler,
    processor_reconciler,
    verifier,
    stream_publisher,
    anchor,
    fx_rates,
)


def parts() -> dict[str, Any]:
    return {
        "store": InMemoryLedgerStore(),
        "processor": SimulatedProcessor(InMemorySimulatorMemory()),
        "metrics": RecordingMetrics(),
        "clock": MutableClock(),
        "rates": EcbRateSource(),
    }


def assert_built_from(services: Services, given: dict[str, Any]) -> None:
    assert services.store is given["store"]
    assert services.processor is given["processor"]
    assert services.metrics is given["metrics"]
    assert services.clock is given["clock"]
    assert services.rates is given["rates"]


# --- The composition root --------------------------------------------------------------------


def test_build_services_uses_every_part_it_is_given() -> None:
    given = parts()

    services = bootstrap.build_services(WebhookSettings.from_environ(SERVICE_ENVIRON), **given)

    assert_built_from(services, given)


def test_build_services_builds_the_real_parts_from_the_settings() -> None:
    services = bootstrap.build_services(ApiSettings.from_environ(API_ENVIRON))

    assert isinstance(services.store, DynamoDBLedgerStore)
    assert (services.store._ledger, services.store._audit) == ("Ledger-1", "Audit-1")
    assert isinstance(services.processor, SimulatedProcessor)
    assert isinstance(services.metrics, PowertoolsMetricsSink)
    assert isinstance(services.rates, EcbRateSource)  # no FX table: the bundled history


def test_the_api_policy_and_rates_come_from_its_settings() -> None:
    environ = API_ENVIRON | {"FX_RATES_TABLE_NAME": "Rates-1"}

    services = bootstrap.build_services(
        ApiSettings.from_environ(environ), **parts() | {"rates": None}
    )

    assert services.policy.refund.window_days == 90
    assert services.policy.fee_policy is FeePolicy.PROPORTIONAL
    assert services.policy.currency_conversion is True
    assert isinstance(services.rates, StoredEcbRateSource)


def test_other_functions_keep_the_default_policy() -> None:
    settings = ReconcilerSettings.from_environ(
        SERVICE_ENVIRON | {"RECONCILE_AFTER_MINUTES": "5", "STALE_PENDING_HOURS": "24"}
    )

    services = bootstrap.build_services(settings, **parts())

    assert services.policy == bootstrap.ServicePolicy()


def test_each_function_builder_carries_the_injected_services() -> None:
    given = parts()
    services = bootstrap.build_services(WebhookSettings.from_environ(SERVICE_ENVIRON), **given)
    api_settings = ApiSettings.from_environ(API_ENVIRON)
    encryptor = object()
    reconciler_settings = ReconcilerSettings.from_environ(
        SERVICE_ENVIRON | {"RECONCILE_AFTER_MINUTES": "5", "STALE_PENDING_HOURS": "24"}
    )

    runtimes = [
        bootstrap.build_api_runtime(api_settings, services=services, encryptor=encryptor),  # type: ignore[arg-type]
        bootstrap.build_webhooks(WebhookSettings.from_environ(SERVICE_ENVIRON), services=services),
        bootstrap.build_reconciler(reconciler_settings, services=services),
    ]

    for runtime in runtimes:
        assert_built_from(runtime.services, given)
    assert runtimes[0].encryptor is encryptor
    assert runtimes[0].refunds.services is services
    assert runtimes[2].settings is reconciler_settings


def test_the_ledger_readers_use_the_injected_store() -> None:
    store, metrics = InMemoryLedgerStore(), RecordingMetrics()
    tables = {k: SERVICE_ENVIRON[k] for k in ("LEDGER_TABLE_NAME", "AUDIT_TABLE_NAME")}
    events = object()

    published = bootstrap.build_stream_publisher(
        StreamPublisherSettings.from_environ(tables | {"EVENT_BUS_NAME": "bus"}),
        store=store,
        events=events,  # type: ignore[arg-type]
        metrics=metrics,
    )
    verifying = bootstrap.build_verifier(
        VerifierSettings.from_environ(tables | {"IDEMPOTENCY_TABLE_NAME": "i"}), store=store
    )

    assert (published.store, published.events, published.metrics) == (store, events, metrics)
    assert verifying.store is store
    assert verifying.anchors is None  # neither a bucket nor a folder configured


def test_every_client_in_a_process_comes_from_one_session(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[Any] = []

    class CountedSession(boto3.session.Session):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            created.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(boto3.session, "Session", CountedSession)
    bootstrap.aws_session.cache_clear()
    bootstrap.aws_client.cache_clear()
    try:
        clients = [bootstrap.aws_client(name) for name in ("dynamodb", "kms", "s3", "dynamodb")]
    finally:
        bootstrap.aws_session.cache_clear()
        bootstrap.aws_client.cache_clear()

    assert len(created) == 1
    assert clients[0] is clients[3]
    config = clients[1].meta.config
    assert (config.connect_timeout, config.read_timeout) == (2, 5)
    # max_attempts=3 counts retries: botocore records four attempts in all
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}


# --- The handlers ------------------------------------------------------------------------------


@pytest.mark.parametrize("module", HANDLERS, ids=lambda module: module.__name__.rsplit(".")[-1])
def test_each_handler_reads_its_model_from_the_environment(
    module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in module.SETTINGS.variables():
        monkeypatch.delenv(name, raising=False)
    build = module.store if module is fx_rates else module.runtime
    build.cache_clear()

    with pytest.raises(SettingsError) as refused:
        build()

    build.cache_clear()
    assert issubclass(module.SETTINGS, FunctionSettings)
    for name in module.SETTINGS.required_variables():
        assert name in str(refused.value)


def test_a_handler_builds_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SERVICE_ENVIRON.items():
        monkeypatch.setenv(name, value)
    webhooks.runtime.cache_clear()
    try:
        first = webhooks.runtime()
        assert webhooks.runtime() is first
    finally:
        webhooks.runtime.cache_clear()

    assert first.settings == WebhookSettings.from_environ(SERVICE_ENVIRON)
    assert isinstance(first.services.metrics, PowertoolsMetricsSink)


# --- The settings models -----------------------------------------------------------------------


def test_a_missing_table_name_is_refused_naming_the_variable() -> None:
    environ = dict(SERVICE_ENVIRON)
    del environ["LEDGER_TABLE_NAME"]

    with pytest.raises(SettingsError, match=r"WebhookSettings needs LEDGER_TABLE_NAME: not set"):
        WebhookSettings.from_environ(environ)


def test_every_missing_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as refused:
        ApiSettings.from_environ({})

    for name in ApiSettings.required_variables():
        assert name in str(refused.value)
    assert "FX_RATES_TABLE_NAME" not in str(refused.value)  # optional: the bundled history


def test_an_empty_table_name_is_refused() -> None:
    with pytest.raises(SettingsError, match="AUDIT_TABLE_NAME is set but empty"):
        WebhookSettings.from_environ(SERVICE_ENVIRON | {"AUDIT_TABLE_NAME": ""})


@pytest.mark.parametrize(
    ("variable", "raw", "problem"),
    [
        ("REFUND_WINDOW_DAYS", "0", "positive integer"),
        ("FEE_POLICY", "half", "must be one of"),
        ("CURRENCY_CONVERSION", "yes", "'true' or 'false'"),
        ("PROCESSOR", "paypal", "must be one of"),
    ],
)
def test_malformed_values_are_refused_naming_the_variable(
    variable: str, raw: str, problem: str
) -> None:
    with pytest.raises(SettingsError, match=f"{variable} .*{problem}"):
        ApiSettings.from_environ(API_ENVIRON | {variable: raw})


def test_a_model_lists_exactly_its_fields_variables_then_powertools() -> None:
    assert WebhookSettings.variables() == (
        "LEDGER_TABLE_NAME",
        "AUDIT_TABLE_NAME",
        "IDEMPOTENCY_TABLE_NAME",
        "PROCESSOR",
        "PROCESSOR_SECRET_ARN",
        "SIMULATED_WEBHOOK_SECRET",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
    )
    assert "SIMULATED_WEBHOOK_SECRET" not in WebhookSettings.deployed_variables()


# --- The local stack's environment -------------------------------------------------------------


def test_the_local_environment_loads_every_local_function_and_holds_nothing_else() -> None:
    config = LocalConfig(Path("/tmp/local-data"), 8000, 8100, 8101)
    environment = config.handler_environment(audit_key_id="key-1")
    settings_variables = {k: v for k, v in environment.items() if not k.startswith("AWS_")}
    read = {name for model in LOCAL_FUNCTIONS for name in model.variables()}

    for model in LOCAL_FUNCTIONS:
        model.from_environ(environment)  # raises on any missing or malformed variable
    assert set(settings_variables) <= read
    assert set(LOCAL_ONLY_VARIABLES) <= set(settings_variables)
    assert environment["ANCHOR_FOLDER"] == "/tmp/local-data/anchors"
    assert environment["POWERTOOLS_SERVICE_NAME"] == "refund-service"
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == "RefundService"


def test_settings_are_read_only_and_know_only_their_own_variables() -> None:
    settings = WebhookSettings.from_environ(SERVICE_ENVIRON)

    with pytest.raises(AttributeError, match="read-only"):
        settings.processor = "stripe"  # type: ignore[misc]
    with pytest.raises(TypeError, match="has no setting fee_policy"):
        WebhookSettings(**settings.as_dict(), fee_policy=FeePolicy.NONE)
    assert settings == WebhookSettings(**settings.as_dict())
    assert settings != WebhookSettings(**settings.as_dict() | {"processor": "stripe"})


def test_the_anchor_function_needs_a_bucket_or_a_folder() -> None:
    with pytest.raises(SettingsError, match="ANCHOR_BUCKET_NAME is not set"):
        AnchorSettings.from_environ({"LEDGER_TABLE_NAME": "Ledger-1"})

    folder = AnchorSettings.from_environ({"LEDGER_TABLE_NAME": "L", "ANCHOR_FOLDER": "/tmp/a"})

    assert (folder.anchor_folder, folder.anchor_bucket) == ("/tmp/a", "")
