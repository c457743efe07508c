"""Local AWS resources from the same definitions as the CDK stack, and the demo payments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from refund_service.domain.audit import Initiator
from refund_service.domain.ledger import PaymentStatus
from refund_service.service.context import Caller, Services
from refund_service.service.payments import (
    ChargebackCommand,
    PaymentCommand,
    record_chargeback,
    record_payment,
)
from refund_service.storage.schema import ALL_TABLES, create_table_request

SEEDER = Caller(Initiator("system", "local-seed"))


def create_tables(client: Any, names: dict[str, str]) -> list[str]:
    """Create each table that does not exist yet; returns the ones created."""
    existing = set(client.list_tables()["TableNames"])
    created = []
    for spec in ALL_TABLES:
        name = names[spec.construct_id]
        if name in existing:
            continue
        client.create_table(**create_table_request(spec, name))
        client.get_waiter("table_exists").wait(TableName=name)
        if spec.ttl_attribute:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
        created.append(name)
    return created


def audit_key(kms: Any) -> str:
    """The key that seals audit fields: found by alias, else made (moto keeps keys in memory)."""
    alias = "alias/refund-service-audit"
    try:
        return str(kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"])
    except ClientError:
        key_id = str(
            kms.create_key(Description="refund-service audit fields")["KeyMetadata"]["KeyId"]
        )
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        return key_id


@dataclass(frozen=True)
class DemoPayment:
    label: str
    command: PaymentCommand
    chargeback: bool = False


DEMO_PAYMENTS = (
    DemoPayment(
        "USD with tax and fee",
        PaymentCommand(
            "demo-usd-001",
            12_000,
            "USD",
            PaymentStatus.COMPLETED,
            tax_amount=1_000,
            fee_amount=378,
            customer_reference="cust-1001",
        ),
    ),
    DemoPayment(
        "EUR settled in USD",
        PaymentCommand(
            "demo-eur-001",
            8_500,
            "EUR",
            PaymentStatus.COMPLETED,
            tax_amount=1_357,
            fee_amount=150,
            settlement_currency="USD",
            fx_rate="1.0850",
        ),
    ),
    DemoPayment(
        "JPY (no minor unit)",
        PaymentCommand("demo-jpy-001", 15_000, "JPY", PaymentStatus.COMPLETED, tax_amount=1_364),
    ),
    DemoPayment(
        "KWD (three decimals)",
        PaymentCommand("demo-kwd-001", 25_750, "KWD", PaymentStatus.COMPLETED),
    ),
    DemoPayment(
        "USD still pending",
        PaymentCommand("demo-pending-001", 5_000, "USD", PaymentStatus.PENDING, fee_amount=175),
    ),
    DemoPayment(
        "USD with a chargeback",
        PaymentCommand("demo-chargeback-001", 7_000, "USD", PaymentStatus.COMPLETED),
        chargeback=True,
    ),
)


def demo_payments(services: Services) -> list[DemoPayment]:
    """Record the demo payments; recording them again on a restart changes nothing."""
    for demo in DEMO_PAYMENTS:
        record_payment(services, demo.command, SEEDER)
        if demo.chargeback:
            command = ChargebackCommand(
                demo.command.transaction_id, reason="fraudulent", chargeback_id="dp_demo_001"
            )
            record_chargeback(services, command, SEEDER)
    return list(DEMO_PAYMENTS)
