"""The reference for cold start: a bare Powertools HTTP API handler with the same utilities.

Logger with the correlation id, Metrics, Tracer and request validation on, answering one
trivial route; nothing of the service is imported.
"""

from __future__ import annotations

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


class Echo(BaseModel):
    message: Annotated[str, Field(min_length=1, max_length=100)]


@app.post("/echo")
def echo(body: Annotated[Echo, Body()]) -> dict[str, Any]:
    metrics.add_metric(name="Echoed", unit=MetricUnit.Count, value=1)
    logger.info("echo", extra={"length": len(body.message)})
    return {"message": body.message}


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
