"""Monitoring of the stored ECB rates: an alarm when the newest stored day is too old, and its
graph and status on the service dashboard.

The FX-rates function reports FxRatesAgeDays on every run, whether or not the feed could be
stored. No report for six hours means the function is not running at all, which is treated as
breaching: rates then age unseen.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from refund_service.service.fx_rates import FX_RATES_AGE_DAYS
from stacks.constructs.monitoring import custom_metric

# Weekends and TARGET holidays leave up to four days without a publication (Easter).
MAX_AGE_DAYS = 4
AGE_PERIOD = Duration.hours(6)


class FxRatesMonitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        topic: sns.ITopic,
        dashboard: cloudwatch.Dashboard,
    ) -> None:
        super().__init__(scope, construct_id)
        age = custom_metric(FX_RATES_AGE_DAYS, "Maximum", AGE_PERIOD)
        self.stale = cloudwatch.Alarm(
            self,
            "FxRatesStale",
            alarm_name=f"refund-service-{stage}-FxRatesStale",
            alarm_description=(
                f"The newest stored ECB rates are more than {MAX_AGE_DAYS} days old; "
                "refunds convert at them, or at the bundled history"
            ),
            metric=age,
            threshold=MAX_AGE_DAYS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        self.stale.add_alarm_action(actions.SnsAction(topic))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Stored FX rates age (days)", left=[age], width=8),
            cloudwatch.AlarmStatusWidget(title="FX rates", alarms=[self.stale], width=16),
        )
