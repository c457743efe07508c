"""The timers, on EventBridge Scheduler: one schedule per scheduled function, at its spec's
interval (the reconciler every 5 minutes; the ledger verifier and processor reconciliation
every hour).

The scheduler invokes each function asynchronously. Its retry policy covers a failed
delivery (Lambda throttling the Invoke call); a delivery that still fails lands in the
function's dead-letter queue, as does a run that fails inside Lambda (the function's own
asynchronous settings: no retries, stacks/constructs/functions.py). Each has its own alarm.

Each schedule has its own role, allowed to invoke that one function (unqualified: no version
wildcard, which CDK's LambdaInvoke target would add) and to send to its encrypted queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

DELIVERY_RETRIES = 3


@dataclass(frozen=True)
class ScheduledRun:
    construct_id: str
    every: Duration
    description: str
    function: lambda_.IFunction
    dead_letter_queue: sqs.IQueue


class Schedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runs: Sequence[ScheduledRun],
        queue_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self._queue_key = queue_key
        self.by_id = {run.construct_id: self._every(run) for run in runs}

    def _every(self, run: ScheduledRun) -> scheduler.CfnSchedule:
        role = self._role(run)
        return scheduler.CfnSchedule(
            self,
            run.construct_id,
            description=run.description[:512],
            schedule_expression=scheduler.ScheduleExpression.rate(run.every).expression_string,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=run.function.function_arn,
                role_arn=role.role_arn,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=DELIVERY_RETRIES,
                    # A delivery that missed its slot is stale once the next one is due.
                    maximum_event_age_in_seconds=int(run.every.to_seconds()),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=run.dead_letter_queue.queue_arn
                ),
            ),
        )

    def _role(self, run: ScheduledRun) -> iam.Role:
        role = iam.Role(
            self,
            f"{run.construct_id}Role",
            description=f"EventBridge Scheduler: invokes refund-service {run.construct_id}",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[run.function.function_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"], resources=[run.dead_letter_queue.queue_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self._queue_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sqs.{Aws.REGION}.amazonaws.com"}},
            )
        )
        return role
