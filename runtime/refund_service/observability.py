"""Logger, metrics and tracer shared by every entry point (SPEC section 8).

Logs are JSON with the correlation id and, where known, the transaction and refund ids.
Metrics use CloudWatch's embedded metric format; the tracer never records payloads.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from refund_service.observability_names import METRICS_NAMESPACE, SERVICE_NAME

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)

_UNITS = {unit.value: unit for unit in MetricUnit}


class PowertoolsMetricsSink:
    """The service layer's MetricsSink on Powertools Metrics."""

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        if dimensions:  # the same count again, broken down (e.g. failures by code)
            with single_metric(
                name=name, unit=MetricUnit.Count, value=value, namespace=METRICS_NAMESPACE
            ) as metric:
                metric.add_dimension(name="service", value=SERVICE_NAME)
                for key, item in dimensions.items():
                    metric.add_dimension(name=key, value=item)

    def measure(self, name: str, value: float, unit: str) -> None:
        metrics.add_metric(name=name, unit=_UNITS.get(unit, MetricUnit.NoUnit), value=value)
