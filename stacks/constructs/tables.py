"""The DynamoDB tables, built from the definitions the runtime and the local stack share.

Nothing about a table's keys, indexes or TTL is written here: it all comes from
`refund_service.storage.schema`, so the deployed tables cannot drift from the local ones.
CloudFormation names the tables (the stack name, which carries the stage, is part of each);
the functions learn the names from their environment.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from refund_service.storage.schema import (
    AUDIT_TABLE,
    FX_RATES_TABLE,
    IDEMPOTENCY_TABLE,
    LEDGER_TABLE,
    IndexSpec,
    KeyAttribute,
    TableSpec,
)

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


@dataclass(frozen=True)
class ServiceTable:
    spec: TableSpec
    table: dynamodb.Table

    @property
    def arn(self) -> str:
        return self.table.table_arn

    def index_arns_of(self, names: tuple[str, ...]) -> list[str]:
        """One ARN per named index: no `index/*` wildcard in any policy."""
        unknown = set(names) - {index.name for index in self.spec.indexes}
        if unknown:
            raise ValueError(f"{self.spec.construct_id} has no index {sorted(unknown)}")
        return [f"{self.table.table_arn}/index/{name}" for name in names]


class Tables(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.ledger = self._build(LEDGER_TABLE, key)
        self.audit = self._build(AUDIT_TABLE, key)
        self.idempotency = self._build(IDEMPOTENCY_TABLE, key)
        self.fx_rates = self._build(FX_RATES_TABLE, key)

    @property
    def all(self) -> tuple[ServiceTable, ...]:
        return (self.ledger, self.audit, self.idempotency, self.fx_rates)

    def for_spec(self, spec: TableSpec) -> ServiceTable:
        return next(table for table in self.all if table.spec == spec)

    def _build(self, spec: TableSpec, key: kms.IKey) -> ServiceTable:
        table = dynamodb.Table(
            self,
            spec.construct_id,
            partition_key=_attribute(spec.partition_key),
            sort_key=_attribute(spec.sort_key) if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
            time_to_live_attribute=spec.ttl_attribute,
        )
        for index in spec.indexes:
            _add_index(table, index)
        return ServiceTable(spec, table)


def _attribute(key: KeyAttribute) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


def _add_index(table: dynamodb.Table, index: IndexSpec) -> None:
    table.add_global_secondary_index(
        index_name=index.name,
        partition_key=_attribute(index.partition_key),
        sort_key=_attribute(index.sort_key) if index.sort_key else None,
        projection_type=_PROJECTIONS[index.projection],
        non_key_attributes=list(index.non_key_attributes) or None,
    )
