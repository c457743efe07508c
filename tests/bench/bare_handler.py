"""The reference for cold start: a bare Powertools HTTP API handler that does the floor's work.

Logger with the correlation id, Metrics, Tracer and request validation on, as the service has
them. Its one route makes the floor's three DynamoDB calls for a refund (a Query of the
payment's partition and two TransactWriteItems) on a boto3 client built at the first request,
as the service builds its own, so both sides pay for their first AWS calls. Nothing of the
service is imported: what the service adds above this is its own code and its own checks.
"""

from __future__ import annotations

import os
import uuid
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, Field

logger = Logger(service="bench-bare")
metrics = Metrics(namespace="Bench", service="bench-bare")
tracer = Tracer(service="bench-bare")
app = APIGatewayHttpResolver(enable_validation=True)


class Refund(BaseModel):
    transaction_id: Annotated[str, Field(min_length=1, max_length=100)]
    amount: Annotated[int, Field(gt=0)]


@cache
def dynamodb() -> Any:
    import boto3

    return boto3.session.Session().client("dynamodb")


def _put(table: str, item: dict[str, Any], condition: str, values: dict[str, Any] | None) -> Any:
    put: dict[str, Any] = {"TableName": table, "Item": item, "ConditionExpression": condition}
    if values:
        put["ExpressionAttributeValues"] = values
    return {"Put": put}


def _transact(partition: str, version: int, refund: str, step: int) -> None:
    ledger, audit = os.environ["LEDGER_TABLE_NAME"], os.environ["AUDIT_TABLE_NAME"]
    seq = f"BARE#{version + 1:08d}"
    head = {"pk": {"S": partition}, "sk": {"S": "BARE#HEAD"}, "version": {"N": str(version + 1)}}
    dynamodb().transact_write_items(
        TransactItems=[
            _put(
                ledger,
                head,
                "attribute_not_exists(version) OR version = :v",
                {":v": {"N": str(version)}},
            ),
            _put(
                ledger, {"pk": {"S": partition}, "sk": {"S": seq}}, "attribute_not_exists(pk)", None
            ),
            _put(
                audit,
                {"pk": {"S": partition}, "sk": {"S": f"{seq}#{refund}#{step}"}},
                "attribute_not_exists(pk)",
                None,
            ),
        ]
    )


def _version(partition: str) -> int:
    page = dynamodb().query(
        TableName=os.environ["LEDGER_TABLE_NAME"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": partition}},
        ConsistentRead=True,
    )
    heads = [item for item in page["Items"] if item["sk"]["S"] == "BARE#HEAD"]
    return int(heads[0]["version"]["N"]) if heads else 0


@app.post("/refunds")
def refund(body: Annotated[Refund, Body()]) -> dict[str, Any]:
    refund_id = uuid.uuid4().hex
    partition = f"BENCH#BARE#{body.transaction_id}"
    version = _version(partition)
    _transact(partition, version, refund_id, 1)  # reserve
    _transact(partition, version + 1, refund_id, 2)  # record the outcome
    metrics.add_metric(name="Refunded", unit=MetricUnit.Count, value=1)
    logger.info("refunded", extra={"amount": body.amount})
    return {"refund_transaction_id": refund_id, "status": "completed"}


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
