"""The tables are the shared schema's tables, encrypted, recoverable and never deleted."""

from __future__ import annotations

from typing import Any

import pytest

from refund_service.storage.schema import ALL_TABLES, TableSpec, create_table_request
from tests.infra.conftest import Synthesized, arn_of


def _table(synthesized: Synthesized, spec: TableSpec) -> dict[str, Any]:
    return synthesized.resources[synthesized.logical_id(f"Tables/{spec.construct_id}/Resource")]


def _sorted(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: str(item[key]))


def test_exactly_the_shared_tables_are_declared(synthesized: Synthesized) -> None:
    assert len(synthesized.of_type("AWS::DynamoDB::Table")) == len(ALL_TABLES)


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda spec: spec.construct_id)
def test_keys_and_indexes_match_the_shared_schema(
    synthesized: Synthesized, spec: TableSpec
) -> None:
    # Given what the local stack creates from the same definition
    expected = create_table_request(spec, "unused")

    # When the deployed table is read back from the template
    table = _table(synthesized, spec)["Properties"]

    # Then keys, attribute types, indexes and projections are the same
    assert table["KeySchema"] == expected["KeySchema"]
    assert _sorted(table["AttributeDefinitions"], "AttributeName") == _sorted(
        expected["AttributeDefinitions"], "AttributeName"
    )
    deployed_indexes = [
        {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
        for index in table.get("GlobalSecondaryIndexes", [])
    ]
    assert _sorted(deployed_indexes, "IndexName") == _sorted(
        expected.get("GlobalSecondaryIndexes", []), "IndexName"
    )


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda spec: spec.construct_id)
def test_ttl_attribute_matches_the_shared_schema(synthesized: Synthesized, spec: TableSpec) -> None:
    ttl = _table(synthesized, spec)["Properties"].get("TimeToLiveSpecification")

    if spec.ttl_attribute is None:
        assert ttl is None
    else:
        assert ttl == {"AttributeName": spec.ttl_attribute, "Enabled": True}


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda spec: spec.construct_id)
def test_table_is_protected(synthesized: Synthesized, spec: TableSpec) -> None:
    table = _table(synthesized, spec)
    properties = table["Properties"]
    tables_key = synthesized.logical_id("Keys/Tables/Resource")

    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {
        "KMSMasterKeyId": arn_of(tables_key),
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert "TableName" not in properties  # CloudFormation names it; functions get it by env


def test_functions_receive_the_table_names(synthesized: Synthesized) -> None:
    ledger = synthesized.logical_id("Tables/PaymentLedger/Resource")

    synthesized.assertions.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": {"LEDGER_TABLE_NAME": {"Ref": ledger}}}},
    )
