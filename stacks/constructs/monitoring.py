"""Alarms on what the operators must act on, all sent to one encrypted topic, and a dashboard.

Custom metrics are read exactly as the runtime emits them: namespace METRICS_NAMESPACE, one
dimension `service` = SERVICE_NAME.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aws_cdk import Aws, Duration
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from refund_service import observability_names as names
from stacks.config import ServiceConfig

GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
GTE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
NOT_BREACHING = cloudwatch.TreatMissingData.NOT_BREACHING
FIVE_MINUTES = Duration.minutes(5)

STREAM_LAG_MILLISECONDS = 5 * 60 * 1000  # "within minutes" (SPEC 3)
API_5XX_PERCENT = 1
API_P99_MILLISECONDS = 3000
PROCESSOR_FAILURE_PERCENT = 10


def custom_metric(
    name: str, statistic: str = "Sum", period: Duration = FIVE_MINUTES
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=names.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": names.SERVICE_NAME},
        statistic=statistic,
        period=period,
    )


# Metrics where a single occurrence needs a person: (alarm, metric, description).
_ANY_IS_AN_ALARM: tuple[tuple[str, Callable[[], cloudwatch.IMetric], str], ...] = (
    (
        "StalePendingRefunds",
        lambda: custom_metric(names.STALE_PENDING_REFUNDS, "Maximum"),
        "Refunds have been pending longer than the reconciler allows",
    ),
    (
        # The change stream verifies each changed transaction within minutes of the change;
        # the daily sweep reports what it finds as it goes.
        "LedgerMismatch",
        lambda: custom_metric(names.LEDGER_MISMATCH, "Sum"),
        "A ledger summary differs from the fold of its entries",
    ),
    (
        "RefundOutcomeConflict",
        lambda: custom_metric(names.REFUND_OUTCOME_CONFLICT, "Sum"),
        "The processor reports success for a refund the ledger recorded as failed",
    ),
    (
        "UnmatchedDisputes",
        lambda: custom_metric(names.UNMATCHED_DISPUTES, "Sum"),
        "A processor dispute names no payment the ledger can record it on",
    ),
    (
        "OverRefunded",
        lambda: custom_metric(names.OVER_REFUNDED, "Sum"),
        "A payment has more refunded (and charged back) than was captured",
    ),
    (
        # Processor reconciliation runs hourly: the alarm stays up until the next run.
        "ProcessorMismatch",
        lambda: custom_metric(names.PROCESSOR_MISMATCH, "Sum", Duration.hours(1)),
        "The processor and the ledger disagree on a refund",
    ),
)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServiceConfig,
        key: kms.IKey,
        api: apigwv2.HttpApi,
        functions: Mapping[str, lambda_.Function],
        dead_letter_queues: Mapping[str, sqs.Queue],
        stream: StreamWatch | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._prefix = f"refund-service-{config.stage}"
        self.topic = self._topic(key, config.alarm_email)
        self.alarms: list[cloudwatch.Alarm] = []
        self._api_alarms(api)
        for name, function in functions.items():
            self._function_alarms(name, function)
        self._business_alarms()
        for name, queue in dead_letter_queues.items():
            self._dead_letter_alarm(name, queue)
        if stream is not None:
            self._stream_alarms(stream)
        for alarm in self.alarms:
            alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.dashboard = self._dashboard(api, functions, dead_letter_queues, stream)

    # --- topic ---------------------------------------------------------------------------

    def _topic(self, key: kms.IKey, email: str) -> sns.Topic:
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"{self._prefix} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        if email:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic

    # --- alarms --------------------------------------------------------------------------

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        comparison: cloudwatch.ComparisonOperator = GT,
        evaluation_periods: int = 1,
        datapoints: int = 1,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self._prefix}-{construct_id}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints,
            treat_missing_data=NOT_BREACHING,
        )
        self.alarms.append(alarm)
        return alarm

    def _api_alarms(self, api: apigwv2.HttpApi) -> None:
        self._alarm(
            "Api5xxRate",
            _api_5xx_rate(api),
            threshold=API_5XX_PERCENT,
            description=f"More than {API_5XX_PERCENT}% of API requests answered 5xx",
            evaluation_periods=3,
            datapoints=2,
        )
        self._alarm(
            "ApiLatencyP99",
            api.metric_latency(statistic="p99", period=FIVE_MINUTES),
            threshold=API_P99_MILLISECONDS,
            description=f"API p99 latency above {API_P99_MILLISECONDS} ms",
            evaluation_periods=3,
            datapoints=3,
        )

    def _function_alarms(self, name: str, function: lambda_.Function) -> None:
        self._alarm(
            f"{name}Errors",
            function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
            threshold=1,
            comparison=GTE,
            description=f"The {name} function raised errors",
        )
        self._alarm(
            f"{name}Throttles",
            function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
            threshold=1,
            comparison=GTE,
            description=f"The {name} function was throttled",
        )

    def _business_alarms(self) -> None:
        self._alarm(
            "ProcessorFailureRate",
            _processor_failure_rate(),
            threshold=PROCESSOR_FAILURE_PERCENT,
            description=f"More than {PROCESSOR_FAILURE_PERCENT}% of processor calls failed",
            evaluation_periods=3,
            datapoints=2,
        )
        for construct_id, metric, description in _ANY_IS_AN_ALARM:
            self._alarm(construct_id, metric(), threshold=0, description=description)
        self._anomaly_alarm("RefundCountAnomaly", names.REFUNDS_SUCCEEDED, "succeeded refunds")
        self._anomaly_alarm("RefundAmountAnomaly", names.REFUND_AMOUNT, "refunded amount")

    def _anomaly_alarm(self, construct_id: str, metric_name: str, what: str) -> None:
        alarm = cloudwatch.AnomalyDetectionAlarm(
            self,
            construct_id,
            alarm_name=f"{self._prefix}-{construct_id}",
            alarm_description=f"The {what} left its expected band",
            metric=custom_metric(metric_name, "Sum", Duration.minutes(15)),
            std_devs=3,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data=NOT_BREACHING,
        )
        self.alarms.append(alarm)

    def _dead_letter_alarm(self, name: str, queue: sqs.Queue) -> None:
        self._alarm(
            f"{name}DeadLetters",
            queue.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic="Maximum"
            ),
            threshold=0,
            description=f"Failed {name} runs are waiting in its dead-letter queue",
        )

    def _stream_alarms(self, stream: StreamWatch) -> None:
        self._alarm(
            "StreamIteratorAge",
            stream.iterator_age(),
            threshold=STREAM_LAG_MILLISECONDS,
            description="Ledger changes wait more than 5 minutes to be published and verified",
            evaluation_periods=3,
            datapoints=3,
        )
        self._alarm(
            "StreamFailedDeliveries",
            stream.failures.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic="Maximum"
            ),
            threshold=0,
            description="Ledger change records the publisher gave up on wait in their queue",
        )

    # --- dashboard -----------------------------------------------------------------------

    def _dashboard(
        self,
        api: apigwv2.HttpApi,
        functions: Mapping[str, lambda_.Function],
        dead_letter_queues: Mapping[str, sqs.Queue],
        stream: StreamWatch | None,
    ) -> cloudwatch.Dashboard:
        def graph(title: str, *metrics: cloudwatch.IMetric) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8)

        outcomes = (
            names.REFUNDS_REQUESTED,
            names.REFUNDS_SUCCEEDED,
            names.REFUNDS_FAILED,
            names.REFUNDS_PENDING,
            names.DUPLICATE_BLOCKED,
            names.CHARGEBACK_CONFLICT,
        )
        rows: list[list[cloudwatch.IWidget]] = [
            [
                graph(
                    "API requests",
                    api.metric_count(period=FIVE_MINUTES),
                    api.metric_client_error(period=FIVE_MINUTES),
                    api.metric_server_error(period=FIVE_MINUTES),
                ),
                graph("API 5xx rate (%)", _api_5xx_rate(api)),
                graph(
                    "API latency",
                    api.metric_latency(statistic="p50", period=FIVE_MINUTES),
                    api.metric_latency(statistic="p99", period=FIVE_MINUTES),
                ),
            ],
            [
                graph("Refunds by outcome", *(custom_metric(name) for name in outcomes)),
                graph(
                    "Refunded amount (minor units)",
                    custom_metric(names.REFUND_AMOUNT, "Sum", Duration.minutes(15)),
                ),
                graph(
                    "Processor latency (ms)",
                    custom_metric(names.PROCESSOR_LATENCY, "p50"),
                    custom_metric(names.PROCESSOR_LATENCY, "p99"),
                ),
            ],
            [
                graph("Processor failure rate (%)", _processor_failure_rate()),
                graph(
                    "Pending refunds",
                    custom_metric(names.STALE_PENDING_REFUNDS, "Maximum"),
                    custom_metric(names.PENDING_REFUND_AGE, "Maximum"),
                ),
                graph(
                    "Ledger verification",
                    custom_metric(names.LEDGER_VERIFIED, "Sum", Duration.hours(1)),
                    custom_metric(names.LEDGER_MISMATCH, "Maximum", Duration.hours(1)),
                ),
            ],
            [
                graph(
                    "Processor reconciliation",
                    custom_metric(names.PROCESSOR_MISMATCH, "Sum", Duration.hours(1)),
                    custom_metric(names.PROCESSOR_PAYOUTS_BOOKED, "Sum", Duration.hours(1)),
                ),
                graph("Over-refunded payments", custom_metric(names.OVER_REFUNDED)),
                graph(
                    "Processor disagreements",
                    custom_metric(names.REFUND_OUTCOME_CONFLICT),
                    custom_metric(names.UNMATCHED_DISPUTES),
                ),
            ],
            [
                graph(
                    "Function errors",
                    *(f.metric_errors(period=FIVE_MINUTES) for f in functions.values()),
                ),
                graph(
                    "Function throttles",
                    *(f.metric_throttles(period=FIVE_MINUTES) for f in functions.values()),
                ),
                graph(
                    "Dead-letter queues",
                    *(
                        q.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES)
                        for q in dead_letter_queues.values()
                    ),
                ),
            ],
        ]
        if stream is not None:
            rows.append(
                [
                    graph("Change stream lag (ms)", stream.iterator_age()),
                    graph(
                        "Change records given up",
                        stream.failures.metric_approximate_number_of_messages_visible(
                            period=FIVE_MINUTES
                        ),
                    ),
                    graph(
                        "Refund events published",
                        stream.published_events(),
                    ),
                ]
            )
        rows.append(
            [cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24)]
        )
        return cloudwatch.Dashboard(self, "Dashboard", dashboard_name=self._prefix, widgets=rows)


@dataclass(frozen=True)
class StreamWatch:
    """What the change stream offers to watch: its publisher, bus and failure queue."""

    publisher: lambda_.Function
    failures: sqs.Queue
    bus: events.IEventBus

    def iterator_age(self) -> cloudwatch.Metric:
        return self.publisher.metric("IteratorAge", statistic="Maximum", period=Duration.minutes(1))

    def published_events(self) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/Events",
            metric_name="PutEventsApproximateSuccessCount",
            dimensions_map={"EventBusName": self.bus.event_bus_name},
            statistic="Sum",
            period=FIVE_MINUTES,
        )


def _api_5xx_rate(api: apigwv2.HttpApi) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression="IF(requests > 0, 100 * errors / requests, 0)",
        using_metrics={
            "errors": api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            "requests": api.metric_count(period=FIVE_MINUTES, statistic="Sum"),
        },
        label="5xx %",
        period=FIVE_MINUTES,
    )


def _processor_failure_rate() -> cloudwatch.MathExpression:
    """Failures over calls; every call reports its latency, so latency's count is the calls."""
    return cloudwatch.MathExpression(
        expression="IF(calls > 0, 100 * failures / calls, 0)",
        using_metrics={
            "failures": custom_metric(names.PROCESSOR_FAILURES, "Sum"),
            "calls": custom_metric(names.PROCESSOR_LATENCY, "SampleCount"),
        },
        label="processor failures %",
        period=FIVE_MINUTES,
    )
