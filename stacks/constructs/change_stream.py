"""Refund events: the bus, and the ledger table's stream feeding the publisher (SPEC 4.2).

The event source mapping reads the stream from its trim horizon (no committed change is
skipped when the mapping is first created), reports failed records by sequence number
(partial batch responses), bisects a failing batch, and gives up on a batch after a bounded
number of attempts or age, handing its shard and sequence range to an encrypted SQS queue
that has its own alarm (docs/runbook.md says how to replay it). The publisher's role reads
this one stream, puts events on this one bus and sends to this one queue; its table reads are
declared with the function (stacks/constructs/functions.py).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.functions import ServiceFunction
from stacks.constructs.tables import ServiceTable
from stacks.nag import acknowledge

BATCH_SIZE = 100
BATCHING_WINDOW = Duration.seconds(1)
MAX_RETRY_ATTEMPTS = 10
MAX_RECORD_AGE = Duration.hours(6)  # inside the stream's 24-hour retention
STREAM_READ_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)


class RefundEventBus(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: str) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(
            self,
            "Bus",
            event_bus_name=f"refund-service-{stage}",
            description="Refund events from the ledger's change stream (docs/events.md)",
        )
        # Consumers that missed events (a new rule, an outage) can replay the last 30 days.
        self.archive = self.bus.archive(
            "Archive",
            description="Every refund event, for replay",
            event_pattern=events.EventPattern(source=["refund-service"]),
            retention=Duration.days(30),
        )


class ChangeStream(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ledger: ServiceTable,
        publisher: ServiceFunction,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stream_arn = ledger.table.table_stream_arn
        if stream_arn is None:
            raise ValueError("the ledger table has no stream: see storage/schema.py")
        self.failures = sqs.Queue(
            self,
            "FailedDeliveries",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.failures,
            "SQS3",
            "This queue is the event source mapping's on-failure destination: the last stop for "
            "records the publisher gave up on, alarmed and replayed by hand (docs/runbook.md).",
        )
        role = publisher.role
        self._grant(role, stream_arn, key)
        self.mapping = lambda_.CfnEventSourceMapping(
            self,
            "Mapping",
            function_name=publisher.function.function_name,
            event_source_arn=stream_arn,
            starting_position="TRIM_HORIZON",
            batch_size=BATCH_SIZE,
            maximum_batching_window_in_seconds=int(BATCHING_WINDOW.to_seconds()),
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=MAX_RETRY_ATTEMPTS,
            maximum_record_age_in_seconds=int(MAX_RECORD_AGE.to_seconds()),
            parallelization_factor=1,
            function_response_types=["ReportBatchItemFailures"],
            destination_config=lambda_.CfnEventSourceMapping.DestinationConfigProperty(
                on_failure=lambda_.CfnEventSourceMapping.OnFailureProperty(
                    destination=self.failures.queue_arn
                )
            ),
        )
        # The mapping is checked against the role when it is created: grants first.
        self.mapping.node.add_dependency(role)

    def _grant(self, role: iam.IRole, stream_arn: str, key: kms.IKey) -> None:
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(STREAM_READ_ACTIONS), resources=[stream_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.failures.queue_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sqs.{Aws.REGION}.amazonaws.com"}},
            )
        )
