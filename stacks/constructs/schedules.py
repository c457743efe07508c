"""The timers: the reconciler every 5 minutes; processor reconciliation every hour; the
verification sweep every 30 minutes, which starts the day's sweep and resumes it until done.

EventBridge invokes both asynchronously; a run that still fails after Lambda's retries lands
in the function's dead-letter queue, which has its own alarm.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from refund_service.service.verification import SWEEP_GROUPS

RECONCILE_EVERY = Duration.minutes(5)
VERIFY_EVERY = Duration.minutes(30)
RECONCILE_PROCESSOR_EVERY = Duration.hours(1)


class Schedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        reconciler: lambda_.IFunction,
        verifier: lambda_.IFunction,
        processor_reconciler: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.reconcile = self._every(
            "Reconcile", RECONCILE_EVERY, reconciler, "Settle refunds pending too long"
        )
        # One schedule per group of sweep segments: the groups run side by side.
        self.verify = [
            self._every(
                f"VerifyLedger{group}",
                VERIFY_EVERY,
                verifier,
                f"Take the day's verification sweep further (segment group {group})",
                {"group": group},
            )
            for group in range(SWEEP_GROUPS)
        ]
        self.reconcile_processor = self._every(
            "ReconcileProcessor",
            RECONCILE_PROCESSOR_EVERY,
            processor_reconciler,
            "Compare the processor's refunds with the ledger",
        )

    def _every(
        self,
        construct_id: str,
        interval: Duration,
        function: lambda_.IFunction,
        what: str,
        payload: dict[str, int] | None = None,
    ) -> events.Rule:
        target = targets.LambdaFunction(
            function,
            event=events.RuleTargetInput.from_object(payload) if payload else None,
            # A run that missed its slot is stale once the next one is due.
            max_event_age=interval,
            retry_attempts=2,
        )
        return events.Rule(
            self,
            construct_id,
            description=what,
            schedule=events.Schedule.rate(interval),
            targets=[target],
        )
