"""The stack as operators meet it: its name and the outputs they need after deploy."""

from __future__ import annotations

from tests.infra.conftest import Synthesized


def test_stack_is_named_after_its_stage(synthesized: Synthesized) -> None:
    assert synthesized.stack_name == "RefundService-dev"


def test_outputs(synthesized: Synthesized) -> None:
    assert set(synthesized.template["Outputs"]) == {
        "ApiUrl",
        "AlarmTopicArn",
        "ProcessorSecretArn",
        "PaymentLedgerTableName",
        "PaymentAuditTrailTableName",
        "IdempotencyTableName",
        "FxRatesTableName",
        "UserPoolId",
        "TokenUrl",
        "SupportToolsClientId",
        "PaymentPlatformClientId",
        "AdministratorsClientId",
    }


def test_synth_needs_no_account_lookup(synthesized: Synthesized) -> None:
    # Context lookups would be recorded as missing context in the assembly's manifest.
    manifest = (synthesized.outdir / "manifest.json").read_text()

    assert '"missing"' not in manifest
