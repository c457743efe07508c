"""The ledger table's change stream: refund events on the bus, and every changed transaction
verified (SPEC 3 and 4.2).

Lambda reads the stream through an event source mapping with partial batch responses: a
failed record is reported by its sequence number, the mapping retries from it (bisecting a
failing batch, for a bounded age and number of attempts) and finally hands the batch to the
on-failure queue. Redelivered records publish events with the same ids; consumers deduplicate
on `event_id`. The local stack feeds DynamoDB Local's stream to `process_batch` the same way.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from refund_service.adapters.dynamodb.stream_records import change_from_record
from refund_service.bootstrap import StreamPublisherRuntime, build_stream_publisher
from refund_service.observability import logger, metrics, tracer
from refund_service.service.change_stream import BatchReport, ChangeBatch
from refund_service.service.events import EventSink
from refund_service.service.ports import LedgerStore, MetricsSink
from refund_service.settings import StreamPublisherSettings

SETTINGS = StreamPublisherSettings


@cache
def runtime() -> StreamPublisherRuntime:
    return build_stream_publisher(SETTINGS.from_environ())


def process_batch(
    event: dict[str, Any],
    ledger: LedgerStore,
    events: EventSink,
    sink_metrics: MetricsSink,
    *,
    raise_on_entire_batch_failure: bool = True,
) -> tuple[dict[str, Any], BatchReport]:
    """Handle one batch of stream records; the partial batch response and what was done."""
    batch = ChangeBatch(ledger, events, sink_metrics)

    def record_handler(record: DynamoDBRecord) -> None:
        batch.handle(change_from_record(record.raw_event))

    processor = BatchProcessor(
        event_type=EventType.DynamoDBStreams,
        raise_on_entire_batch_failure=raise_on_entire_batch_failure,
    )
    response = process_partial_response(event, record_handler, processor)
    _log(batch.report, response)
    return dict(response), batch.report


def _log(report: BatchReport, response: Any) -> None:
    for failure in report.mismatches:
        logger.error("ledger verification found a mismatch", extra=failure.described())
    logger.info(
        "change batch handled",
        extra={
            "published": len(report.published),
            "verified": len(report.verified),
            "mismatches": len(report.mismatches),
            "failed_records": len(response.get("batchItemFailures", [])),
        },
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = runtime()
    response, _ = process_batch(event, run.store, run.events, run.metrics)
    return response
