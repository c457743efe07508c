"""The contract between the stack and the handlers: handler paths and environment variables.

Each handler module lists the variables it reads in `ENVIRONMENT`; its function must be given
exactly those, no more and no fewer.
"""

from __future__ import annotations

import importlib

import pytest

from refund_service.observability_names import METRICS_NAMESPACE, SERVICE_NAME
from refund_service.settings import POWERTOOLS_VARIABLES, VARIABLES
from stacks.constructs.functions import FUNCTIONS, FunctionSpec
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

    assert _environment_keys(synthesized, spec) == set(module.ENVIRONMENT)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_environment_is_what_the_function_spec_declares(
    synthesized: Synthesized, spec: FunctionSpec
) -> None:
    assert _environment_keys(synthesized, spec) == set(spec.environment)
    assert len(spec.environment) == len(set(spec.environment))


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_variable_names_are_the_runtime_settings_names(spec: FunctionSpec) -> None:
    known = set(VARIABLES.values()) | set(POWERTOOLS_VARIABLES)

    assert set(spec.environment) <= known


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
