"""The local stack's tables, made from the shared definitions, equal the synthesized stack's."""

from __future__ import annotations

import uuid
from typing import Any

from local.provision import create_tables
from refund_service.storage.schema import ALL_TABLES
from tests.infra.conftest import Synthesized


def _keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in schema]


def _indexes(indexes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        index["IndexName"]: (
            _keys(index["KeySchema"]),
            index["Projection"]["ProjectionType"],
            sorted(index["Projection"].get("NonKeyAttributes", [])),
        )
        for index in indexes
    }


def _shape(table: dict[str, Any], ttl: str | None) -> dict[str, Any]:
    return {
        "keys": _keys(table["KeySchema"]),
        "attributes": sorted(
            (a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]
        ),
        "indexes": _indexes(table.get("GlobalSecondaryIndexes", [])),
        "ttl": ttl,
    }


def test_local_tables_equal_the_synthesized_tables(
    synthesized: Synthesized, local_dynamodb: Any
) -> None:
    suffix = f"-{uuid.uuid4().hex[:6]}"
    names = {spec.construct_id: spec.default_name + suffix for spec in ALL_TABLES}
    create_tables(local_dynamodb, names)
    stack_tables = {
        resource["Metadata"]["aws:cdk:path"].split("/")[-2]: resource["Properties"]
        for resource in synthesized.of_type("AWS::DynamoDB::Table").values()
    }
    for spec in ALL_TABLES:
        described = local_dynamodb.describe_table(TableName=names[spec.construct_id])["Table"]
        ttl = local_dynamodb.describe_time_to_live(TableName=names[spec.construct_id])
        ttl_attribute = ttl["TimeToLiveDescription"].get("AttributeName")
        stack = stack_tables[spec.construct_id]
        stack_ttl = stack.get("TimeToLiveSpecification", {}).get("AttributeName")
        assert _shape(described, ttl_attribute) == _shape(stack, stack_ttl), spec.construct_id
