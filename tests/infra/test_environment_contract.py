"""The contract between the stack and the handlers: handler paths and environment variables.

Each handler reads one settings model (its module's `SETTINGS`); its function must be given
exactly that model's variables, no more and no fewer, the local-only ones aside.
"""

from __future__ import annotations

import importlib
from dataclasses import replace

import pytest

from refund_service.observability_names import METRICS_NAMESPACE, SERVICE_NAME
from refund_service.settings import (
    LOCAL_ONLY_VARIABLES,
    POWERTOOLS_VARIABLES,
    Variable,
    WebhookSettings,
)
from stacks.constructs.functions import FUNCTIONS, WEBHOOKS, FunctionSpec, environment_of
from tests.infra.conftest import Synthesized
from tests.infra.test_functions import function_of


def _handler(spec: FunctionSpec) -> tuple[str, str]:
    module, _, attribute = spec.handler.rpartition(".")
    return module, attribute


def _environment_keys(synthesized: Synthesized, spec: FunctionSpec) -> set[str]:
    return set(function_of(synthesized, spec)["Properties"]["Environment"]["Variables"])


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_handler_resolves_to_a_callable_under_runtime(spec: FunctionSpec) -> None:
    module_name, attribute = _handler(spec)

    module = importlib.import_module(module_name)

    assert module.__file__ is not None and "/runtime/refund_service/" in module.__file__
    assert callable(getattr(module, attribute))


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_environment_is_exactly_what_the_handler_reads(
    synthesized: Synthesized, spec: FunctionSpec
) -> None:
    module = importlib.import_module(_handler(spec)[0])
    reads = set(module.SETTINGS.variables())

    assert module.SETTINGS is spec.settings
    assert _environment_keys(synthesized, spec) == reads - set(LOCAL_ONLY_VARIABLES)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_the_synthesized_environment_loads_the_functions_model(
    synthesized: Synthesized, spec: FunctionSpec
) -> None:
    variables = function_of(synthesized, spec)["Properties"]["Environment"]["Variables"]
    # Tokens (table names, ARNs) stand for values known at deploy time
    environ = {
        name: value if isinstance(value, str) else "token" for name, value in variables.items()
    }

    settings = spec.settings.from_environ(environ)

    assert set(spec.settings.required_variables()) <= set(variables)
    assert isinstance(settings, spec.settings)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_environment_is_what_the_function_spec_declares(
    synthesized: Synthesized, spec: FunctionSpec
) -> None:
    assert _environment_keys(synthesized, spec) == set(spec.environment)
    assert len(spec.environment) == len(set(spec.environment))


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_no_function_is_given_a_local_only_variable_and_all_get_powertools(
    spec: FunctionSpec,
) -> None:
    assert not set(spec.environment) & set(LOCAL_ONLY_VARIABLES)
    assert set(POWERTOOLS_VARIABLES) <= set(spec.environment)


def test_variables_per_function() -> None:
    by_function = {spec.construct_id: set(spec.environment) for spec in FUNCTIONS}
    powertools = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
    tables = {"LEDGER_TABLE_NAME", "AUDIT_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME"}
    processor = {"PROCESSOR", "PROCESSOR_SECRET_ARN"}

    assert by_function == {
        "Api": tables
        | processor
        | powertools
        | {"AUDIT_KEY_ID", "REFUND_WINDOW_DAYS", "FEE_POLICY", "CURRENCY_CONVERSION"}
        | {"FX_RATES_TABLE_NAME"},
        "Webhooks": tables | processor | powertools,
        "Reconciler": tables
        | processor
        | powertools
        | {"RECONCILE_AFTER_MINUTES", "STALE_PENDING_HOURS"},
        "Verifier": tables
        | powertools
        | {"ANCHOR_BUCKET_NAME"},  # the idempotency table holds its checkpoints
        "ProcessorReconciler": tables
        | processor
        | powertools
        | {"RECONCILE_AFTER_MINUTES", "PROCESSOR_RECONCILE_WINDOW_HOURS"},
        "FxRates": {"FX_RATES_TABLE_NAME"} | powertools,
        "StreamPublisher": {"LEDGER_TABLE_NAME", "AUDIT_TABLE_NAME", "EVENT_BUS_NAME"} | powertools,
        "Anchor": {"LEDGER_TABLE_NAME", "ANCHOR_BUCKET_NAME"} | powertools,
    }


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_every_function_reports_as_one_service(
    synthesized: Synthesized, spec: FunctionSpec
) -> None:
    variables = function_of(synthesized, spec)["Properties"]["Environment"]["Variables"]

    assert variables["POWERTOOLS_SERVICE_NAME"] == SERVICE_NAME
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE


def test_configuration_values_reach_the_api(synthesized: Synthesized) -> None:
    api = next(spec for spec in FUNCTIONS if spec.construct_id == "Api")
    variables = function_of(synthesized, api)["Properties"]["Environment"]["Variables"]

    assert variables["REFUND_WINDOW_DAYS"] == "180"
    assert variables["FEE_POLICY"] == "none"
    assert variables["PROCESSOR"] == "simulated"
    assert variables["CURRENCY_CONVERSION"] == "false"


class _WithANewSetting(WebhookSettings):
    retry_budget = Variable("RETRY_BUDGET", lambda _name, raw: raw)


def test_a_new_setting_is_given_to_its_function_once_the_stack_has_its_value() -> None:
    spec = replace(WEBHOOKS, settings=_WithANewSetting)
    values = {name: "value" for name in WEBHOOKS.environment}

    with pytest.raises(ValueError, match="Webhooks: _WithANewSetting reads RETRY_BUDGET"):
        environment_of(spec, values)
    assert environment_of(spec, values | {"RETRY_BUDGET": "3", "UNUSED": "x"}) == values | {
        "RETRY_BUDGET": "3"
    }
