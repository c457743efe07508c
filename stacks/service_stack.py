"""The refund service as one stack, composed of one-capability constructs.

Why one stack and not data + service stacks: docs/decisions/0002-stack-layout.md.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from refund_service.observability_names import SERVICE_NAME
from stacks.config import ServiceConfig
from stacks.constructs.anchors import AnchorBucket
from stacks.constructs.change_stream import ChangeStream, RefundEventBus
from stacks.constructs.functions import Functions
from stacks.constructs.fx_rates import FxRatesMonitoring
from stacks.constructs.http_api import HttpApi
from stacks.constructs.identity import Identity
from stacks.constructs.keys import Keys
from stacks.constructs.monitoring import Monitoring, StreamWatch
from stacks.constructs.schedules import Schedules
from stacks.constructs.secrets import ProcessorSecret
from stacks.constructs.tables import Tables


class RefundServiceStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: ServiceConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("service", SERVICE_NAME)
        Tags.of(self).add("stage", config.stage)

        self.keys = Keys(
            self,
            "Keys",
            stage=config.stage,
            audit_decryptor_role_arn=config.audit_decryptor_role_arn,
        )
        self.tables = Tables(self, "Tables", key=self.keys.tables)
        self.secret = ProcessorSecret(
            self, "ProcessorSecret", key=self.keys.operations, processor=config.processor
        )
        self.events = RefundEventBus(self, "Events", stage=config.stage)
        self.anchors = AnchorBucket(self, "Anchors", key=self.keys.operations)
        self.functions = Functions(
            self,
            "Functions",
            config=config,
            keys=self.keys,
            tables=self.tables,
            secret=self.secret,
            event_bus=self.events.bus,
            anchors=self.anchors,
        )
        self.change_stream = ChangeStream(
            self,
            "ChangeStream",
            ledger=self.tables.ledger,
            publisher=self.functions.stream_publisher,
            key=self.keys.operations,
        )
        self.identity = Identity(self, "Identity", config=config)
        self.http_api = HttpApi(
            self,
            "HttpApi",
            config=config,
            identity=self.identity,
            api_function=self.functions.api_live,
            webhooks_function=self.functions.webhooks,
            log_key=self.keys.operations,
        )
        Schedules(
            self,
            "Schedules",
            runs=self.functions.scheduled_runs(),
            queue_key=self.keys.operations,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            key=self.keys.operations,
            api=self.http_api.api,
            functions={name: built.function for name, built in self.functions.by_spec.items()},
            dead_letter_queues=self.functions.dead_letter_queues,
            stream=StreamWatch(
                self.functions.stream_publisher.function,
                self.change_stream.failures,
                self.events.bus,
            ),
        )
        FxRatesMonitoring(
            self,
            "FxRates",
            stage=config.stage,
            topic=self.monitoring.topic,
            dashboard=self.monitoring.dashboard,
        )
        self._outputs()

    def _outputs(self) -> None:
        CfnOutput(self, "ApiUrl", value=self.http_api.url)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        CfnOutput(self, "ProcessorSecretArn", value=self.secret.secret.secret_arn)
        CfnOutput(self, "EventBusName", value=self.events.bus.event_bus_name)
        for table in self.tables.all:
            CfnOutput(self, f"{table.spec.construct_id}TableName", value=table.table.table_name)
        for name, value in self.identity.outputs.items():
            CfnOutput(self, name, value=value)
