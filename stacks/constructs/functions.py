"""The Lambda functions, each with its own role holding only what it uses.

A function is declared once as a FunctionSpec (handler, environment, table actions, keys);
ServiceFunction turns any spec into the same shape of resources, so no function is built by
copied code. DynamoDB permissions are data-plane only, and each role holds the actions its
function's code calls (tests/infra/test_iam.py lists them by hand). Grants for the processor
follow the configured one: a real processor's secret, or the simulated processor's memory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

from aws_cdk import Annotations, Aws, Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from refund_service.observability_names import METRICS_NAMESPACE, SERVICE_NAME
from refund_service.service.verification import SWEEP_GROUPS
from refund_service.settings import (
    POWERTOOLS_VARIABLES,
    AnchorSettings,
    ApiSettings,
    FunctionSettings,
    FxRatesSettings,
    ProcessorReconcilerSettings,
    ReconcilerSettings,
    StreamPublisherSettings,
    VerifierSettings,
    WebhookSettings,
)
from refund_service.storage.schema import (
    AUDIT_TABLE,
    CHAIN_HEADS_BY_HOUR_INDEX,
    FX_RATES_TABLE,
    IDEMPOTENCY_TABLE,
    LEDGER_TABLE,
    PENDING_REFUNDS_INDEX,
    REFUND_ID_INDEX,
    TableSpec,
)
from stacks.checkov import skip_check
from stacks.config import (
    LAMBDA_ARCHITECTURE,
    LAMBDA_RUNTIME,
    ServiceConfig,
    powertools_layer_parameter,
)
from stacks.constructs.anchors import AnchorBucket
from stacks.constructs.bundling import runtime_code
from stacks.constructs.keys import Keys
from stacks.constructs.schedules import ScheduledRun
from stacks.constructs.secrets import ProcessorSecret
from stacks.constructs.tables import Tables
from stacks.nag import acknowledge

ARCHITECTURE = LAMBDA_ARCHITECTURE
SIMULATED = "simulated"


@dataclass(frozen=True)
class TableAccess:
    actions: tuple[str, ...]
    index_actions: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()  # the indexes index_actions apply to, each by name

    @property
    def writes(self) -> bool:
        return any(not action.endswith(("GetItem", "Query", "Scan")) for action in self.actions)


def _query_index(index: str) -> dict[str, tuple[str, ...]]:
    return {"index_actions": ("dynamodb:Query",), "indexes": (index,)}


# Each grant is what a function's code calls, and nothing more. The ledger store (adapters/
# dynamodb/ledger_store.py) reads with Query (load, audit_records), Query on an index
# (find_refund, pending_refunds), GetItem (find_payment, load_head), BatchGetItem (a refund's
# reads: load_for_refund, load_refund; decision 0025) and Scan (transaction_ids), and writes
# every change as one TransactWriteItems of conditional Puts on the ledger and audit tables,
# which IAM authorizes as PutItem per item (and a keyed refusal's ConditionCheck as
# ConditionCheckItem). No role can update, delete or batch-write ledger
# entries or audit records.

# Webhooks: load, settling's reads, find a refund by id or a payment by processor id, commit.
LEDGER_REQUESTS = TableAccess(
    ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem"),
    **_query_index(REFUND_ID_INDEX),
)
# API: the same, and a refusal under an idempotency key checks its key's pointer in its
# commit (a ConditionCheck in the TransactWriteItems, decision 0025).
LEDGER_REFUND_REQUESTS = TableAccess(
    (*LEDGER_REQUESTS.actions, "dynamodb:ConditionCheckItem"),
    **_query_index(REFUND_ID_INDEX),
)
# Reconciler: the pending-refunds index, load, settling's reads (load_refund), commit.
LEDGER_SETTLE_PENDING = TableAccess(
    ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem"),
    **_query_index(PENDING_REFUNDS_INDEX),
)
# Processor reconciliation: find a refund by id, load, settling's reads (load_refund), commit.
LEDGER_BOOK_PAYOUTS = TableAccess(
    ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem"),
    **_query_index(REFUND_ID_INDEX),
)
# Verifier: verify-all walks every transaction, the one Scan, on no request path.
LEDGER_VERIFY = TableAccess(("dynamodb:Query", "dynamodb:Scan"))
# Anchoring: the chain heads by the hour they changed, from the sparse index, and nothing else.
LEDGER_CHANGED_HEADS = TableAccess((), **_query_index(CHAIN_HEADS_BY_HOUR_INDEX))
AUDIT_READ_AND_APPEND = TableAccess(("dynamodb:Query", "dynamodb:PutItem"))  # API: audit reads
AUDIT_APPEND = TableAccess(("dynamodb:PutItem",))
AUDIT_READ = TableAccess(("dynamodb:Query",))
# Powertools idempotency deletes its own record when the function fails, so a retry runs again.
IDEMPOTENCY_RECORDS = TableAccess(
    ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
)
# Webhooks remember the processor event ids they handled (adapters/dynamodb/event_log.py).
WEBHOOK_EVENT_LOG = TableAccess(("dynamodb:GetItem", "dynamodb:PutItem"))
# API: a refund's FX quote reads the requested day (GetItem), else the latest before (Query).
FX_RATES_READ = TableAccess(("dynamodb:GetItem", "dynamodb:Query"))
# FX-rates function: stores each day, then reads the newest stored day for its age metric.
FX_RATES_STORE = TableAccess(("dynamodb:PutItem", "dynamodb:Query"))
# Stream publisher: verify each changed transaction (load, audit_records), nothing else.
LEDGER_LOAD = TableAccess(("dynamodb:Query",))
# Leases and checkpoints of the scheduled jobs (adapters/dynamodb/coordination.py): only items
# whose id starts with one of these prefixes, never an idempotency record.
COORDINATION_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
COORDINATION_KEYS = ("lease#*", "checkpoint#*")


@dataclass(frozen=True)
class ProcessorAccess:
    """How a function reaches the configured processor.

    A real processor's credentials are in the secret. The simulated processor has none: it keeps
    its memory in the idempotency table (adapters/processors/simulated.py), where `refund`
    reads and puts, and `lookup` reads and updates; `simulator_memory` is what this function's
    calls need there.
    """

    simulator_memory: tuple[str, ...] = ()


@dataclass(frozen=True)
class FunctionSpec:
    construct_id: str
    handler: str
    description: str
    settings: type[FunctionSettings]  # what the handler reads: its environment follows from it
    table_access: tuple[tuple[TableSpec, TableAccess], ...]
    timeout: Duration
    memory_mb: int = 512
    encrypts_audit_fields: bool = False
    processor: ProcessorAccess | None = None  # None: never talks to the processor
    scheduled: bool = False
    anchors: str = ""  # the anchor bucket: "" untouched, "read" (verify), "write" (anchoring)
    every: Duration | None = None  # a scheduled function's interval (stacks/constructs/schedules)
    coordinates: bool = False  # holds a lease and keeps checkpoints in the idempotency table
    async_retries: int | None = None  # None: Lambda's default (2)
    publishes_events: bool = False
    # Lambda SnapStart on published versions, invoked through the LIVE_ALIAS alias
    # (docs/decisions/0024-snapstart.md); the function registers its own runtime hooks.
    snap_start: bool = False

    @property
    def environment(self) -> tuple[str, ...]:
        return self.settings.deployed_variables()


LIVE_ALIAS = "live"

API = FunctionSpec(
    construct_id="Api",
    handler="refund_service.handlers.api.handler",
    description="HTTP API: refunds, rollbacks, payments, ledger and audit views",
    settings=ApiSettings,
    table_access=(
        (LEDGER_TABLE, LEDGER_REFUND_REQUESTS),
        (AUDIT_TABLE, AUDIT_READ_AND_APPEND),
        (IDEMPOTENCY_TABLE, IDEMPOTENCY_RECORDS),
        (FX_RATES_TABLE, FX_RATES_READ),
    ),
    timeout=Duration.seconds(29),  # API Gateway gives up after 30 s
    memory_mb=1024,
    encrypts_audit_fields=True,
    processor=ProcessorAccess(
        simulator_memory=("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
    ),
    snap_start=True,
)
WEBHOOKS = FunctionSpec(
    construct_id="Webhooks",
    handler="refund_service.handlers.webhooks.handler",
    description="Processor webhooks: settles pending refunds",
    settings=WebhookSettings,
    table_access=(
        (LEDGER_TABLE, LEDGER_REQUESTS),
        (AUDIT_TABLE, AUDIT_APPEND),
        (IDEMPOTENCY_TABLE, WEBHOOK_EVENT_LOG),
    ),
    timeout=Duration.seconds(29),
    # Verifies a processor's signatures, and looks a refund up before booking a success for
    # one the processor had failed (a late event may be stale): the simulator's get and settle.
    processor=ProcessorAccess(simulator_memory=("dynamodb:GetItem", "dynamodb:UpdateItem")),
)
RECONCILER = FunctionSpec(
    construct_id="Reconciler",
    handler="refund_service.handlers.reconciler.handler",
    description="Every 5 minutes: settles refunds pending too long by asking the processor",
    settings=ReconcilerSettings,
    table_access=((LEDGER_TABLE, LEDGER_SETTLE_PENDING), (AUDIT_TABLE, AUDIT_APPEND)),
    timeout=Duration.minutes(4),  # ends before the next run starts
    processor=ProcessorAccess(simulator_memory=("dynamodb:GetItem", "dynamodb:UpdateItem")),
    scheduled=True,
    every=Duration.minutes(5),
    coordinates=True,  # a lease against overlapping runs; its cursor through the backlog
)
VERIFIER = FunctionSpec(
    construct_id="Verifier",
    handler="refund_service.handlers.verifier.handler",
    description="Daily, resumed every 30 minutes until done: parallel verification sweep",
    settings=VerifierSettings,
    table_access=((LEDGER_TABLE, LEDGER_VERIFY), (AUDIT_TABLE, AUDIT_READ)),
    timeout=Duration.minutes(15),
    memory_mb=1769,  # one full vCPU for 64 threads' JSON decoding and folding
    scheduled=True,
    every=Duration.minutes(30),
    coordinates=True,  # a lease against overlapping runs; one checkpoint per segment
    async_retries=0,  # a failed run is resumed by the next one, never rerun from the start
    anchors="read",
)
STREAM_PUBLISHER = FunctionSpec(
    construct_id="StreamPublisher",
    handler="refund_service.handlers.stream_publisher.handler",
    description="Ledger change stream: refund events on the bus; verifies changed transactions",
    settings=StreamPublisherSettings,
    table_access=((LEDGER_TABLE, LEDGER_LOAD), (AUDIT_TABLE, AUDIT_READ)),
    timeout=Duration.minutes(1),
    publishes_events=True,
)
ANCHOR = FunctionSpec(
    construct_id="Anchor",
    handler="refund_service.handlers.anchor.handler",
    description="Hourly: anchors the audit chain heads changed in each hour to the locked bucket",
    settings=AnchorSettings,
    table_access=((LEDGER_TABLE, LEDGER_CHANGED_HEADS),),
    timeout=Duration.minutes(10),
    memory_mb=1024,
    scheduled=True,
    every=Duration.hours(1),
    anchors="write",
)
PROCESSOR_RECONCILER = FunctionSpec(
    construct_id="ProcessorReconciler",
    handler="refund_service.handlers.processor_reconciler.handler",
    description="Hourly: compares the processor's refunds with the ledger, books missing payouts",
    settings=ProcessorReconcilerSettings,
    table_access=((LEDGER_TABLE, LEDGER_BOOK_PAYOUTS), (AUDIT_TABLE, AUDIT_APPEND)),
    timeout=Duration.minutes(10),  # pages through the processor's list; well inside the hour
    # Lists refunds (the simulated processor reads its per-minute index items and its records),
    # and looks one up before booking a payout for a refund the processor had failed.
    processor=ProcessorAccess(
        simulator_memory=("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem")
    ),
    scheduled=True,
    every=Duration.hours(1),
)
FX_RATES = FunctionSpec(
    construct_id="FxRates",
    handler="refund_service.handlers.fx_rates.handler",
    description="Every 3 hours: fetches the ECB daily reference rates, validates and stores them",
    settings=FxRatesSettings,
    table_access=((FX_RATES_TABLE, FX_RATES_STORE),),
    timeout=Duration.minutes(1),
    memory_mb=256,
    scheduled=True,
    # The ECB publishes once per TARGET day around 16:00 CET; 3-hourly picks it up the same day.
    every=Duration.hours(3),
)
FUNCTIONS = (
    API,
    WEBHOOKS,
    RECONCILER,
    VERIFIER,
    PROCESSOR_RECONCILER,
    FX_RATES,
    STREAM_PUBLISHER,
    ANCHOR,
)


# Lambda's asynchronous queue is at-least-once and retries twice by default; either could start
# a scheduled run while the previous one is still going. With no retries and events dropped
# once they are older than the interval less the timeout, a run starts and ends before the next
# one is due, so runs do not overlap (a duplicate delivery aside: reserve_scheduled_concurrency
# closes that too). A run that fails is made up by the next one; failures reach the DLQ.
MIN_EVENT_AGE = Duration.seconds(60)  # Lambda's lower bound


def max_event_age(spec: FunctionSpec) -> Duration:
    """How long a scheduled run may wait in Lambda's queue and still end before the next run."""
    assert spec.every is not None
    slack = int(spec.every.to_seconds() - spec.timeout.to_seconds())
    return Duration.seconds(max(slack, int(MIN_EVENT_AGE.to_seconds())))


def _runs_of(spec: FunctionSpec) -> list[tuple[str, dict[str, int] | None]]:
    """The verification sweep runs as one schedule per group of its Scan segments, side by side
    (docs/decisions/0016-verification-sweep.md); every other function as one."""
    if spec is VERIFIER:
        return [(f"VerifyLedger{group}", {"group": group}) for group in range(SWEEP_GROUPS)]
    return [(spec.construct_id, None)]


@dataclass(frozen=True)
class SharedResources:
    """What every function is built against."""

    config: ServiceConfig
    keys: Keys
    tables: Tables
    secret: ProcessorSecret
    anchors: AnchorBucket
    code: lambda_.Code
    powertools: lambda_.ILayerVersion
    environment_values: dict[str, str]
    event_bus: events.IEventBus


class ServiceFunction(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, spec: FunctionSpec, shared: SharedResources
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self._shared = shared
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"refund-service {spec.construct_id} function",
        )
        self.log_group = self._log_group()
        self.dead_letter_queue = self._dead_letter_queue() if spec.scheduled else None
        self.function = self._function()
        self.live = self._live_alias() if spec.snap_start else None
        self._grant_tables()
        self._grant_coordination()
        self._grant_events()
        self._grant_keys_and_secret()
        self._grant_anchors()
        self._acknowledge_tracing_permissions()
        self._explain_checkov_skips()

    def _log_group(self) -> logs.LogGroup:
        log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=self._shared.keys.operations,
            retention=self._shared.config.log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )
        log_group.grant_write(self.role)
        return log_group

    def _dead_letter_queue(self) -> sqs.Queue:
        operations_key = self._shared.keys.operations
        queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=operations_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        # Lambda's own DLQ grant is sqs:SendMessage only; an encrypted queue also needs the key.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[operations_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sqs.{Aws.REGION}.amazonaws.com"}},
            )
        )
        return queue

    def _function(self) -> lambda_.Function:
        spec = self.spec
        scheduled = spec.every is not None
        reserve = scheduled and self._shared.config.reserve_scheduled_concurrency
        return lambda_.Function(
            self,
            "Function",
            description=spec.description,
            runtime=LAMBDA_RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=self._shared.code,
            layers=[self._shared.powertools],
            environment=environment_of(spec, self._shared.environment_values),
            environment_encryption=self._shared.keys.operations,
            timeout=spec.timeout,
            memory_size=spec.memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            role=self.role,
            log_group=self.log_group,
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=0 if scheduled else spec.async_retries,
            max_event_age=max_event_age(spec) if scheduled else None,
            reserved_concurrent_executions=1 if reserve else None,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if spec.snap_start else None,
            # A replaced version is deleted once the alias has moved on (CloudFormation's
            # cleanup, after a successful update): each kept version's snapshot is billed.
            current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.DESTROY)
            if spec.snap_start
            else None,
        )

    def _live_alias(self) -> lambda_.Alias:
        """A version is published whenever the code or configuration changes (SnapStart takes
        its snapshot then); the alias follows the newest and is what callers invoke."""
        Annotations.of(self.function).acknowledge_warning(
            "@aws-cdk/aws-lambda:snapStartRequirePublish",
            "Every change publishes a version (current_version) and the alias follows it.",
        )
        return lambda_.Alias(
            self, "Live", alias_name=LIVE_ALIAS, version=self.function.current_version
        )

    def _grant_tables(self) -> None:
        for table_spec, access in self.spec.table_access:
            table = self._shared.tables.for_spec(table_spec)
            if access.actions:
                self._allow(access.actions, [table.arn])
            if access.index_actions:
                self._allow(access.index_actions, table.index_arns_of(access.indexes))
        writes = any(access.writes for _, access in self.spec.table_access)
        writes = writes or self.spec.coordinates or bool(self._simulator_memory())
        self._grant_table_key(writes=writes)

    def _grant_coordination(self) -> None:
        if not self.spec.coordinates:
            return
        idempotency = self._shared.tables.for_spec(IDEMPOTENCY_TABLE)
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=list(COORDINATION_ACTIONS),
                resources=[idempotency.arn],
                conditions={
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(COORDINATION_KEYS)}
                },
            )
        )

    def _grant_events(self) -> None:
        if self.spec.publishes_events:
            self._allow(["events:PutEvents"], [self._shared.event_bus.event_bus_arn])

    def _grant_table_key(self, writes: bool) -> None:
        """DynamoDB uses the tables' key on the caller's behalf, and only DynamoDB may."""
        actions = ["kms:Decrypt", "kms:DescribeKey"]
        if writes:
            actions += ["kms:Encrypt", "kms:GenerateDataKey"]
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=actions,
                resources=[self._shared.keys.tables.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"dynamodb.{Aws.REGION}.amazonaws.com"}
                },
            )
        )

    def _grant_keys_and_secret(self) -> None:
        if self.spec.encrypts_audit_fields:
            # Seals the initiator's e-mail and address; nothing here ever decrypts them.
            self._shared.keys.allow_audit_field_sealing(self.role)
        self._grant_processor()

    def _grant_anchors(self) -> None:
        if self.spec.anchors == "write":
            self._shared.anchors.allow_anchoring(self.role)
        elif self.spec.anchors == "read":
            self._shared.anchors.allow_reading(self.role)

    def _simulator_memory(self) -> tuple[str, ...]:
        uses_simulator = self._shared.config.processor == SIMULATED
        if self.spec.processor is None or not uses_simulator:
            return ()
        return self.spec.processor.simulator_memory

    def _grant_processor(self) -> None:
        """The secret for a real processor; the simulator's memory for the simulated one."""
        if self.spec.processor is None:
            return
        if self._shared.config.processor != SIMULATED:
            self._shared.secret.grant_value_read(self.role)
        elif self._simulator_memory():
            idempotency = self._shared.tables.for_spec(IDEMPOTENCY_TABLE)
            self._allow(self._simulator_memory(), [idempotency.arn])

    def _allow(self, actions: tuple[str, ...] | list[str], resources: list[str]) -> None:
        self.role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=resources))

    def _explain_checkov_skips(self) -> None:
        skip_check(
            self.function,
            "CKV_AWS_117",
            "No VPC: the function reaches only AWS APIs (DynamoDB, KMS, Secrets Manager, X-Ray) "
            "and the processor's public HTTPS API, all over TLS with IAM or signed requests; "
            "there is no private resource for a VPC to shield, and one would add NAT cost.",
        )
        if self.spec.every is None:
            skip_check(
                self.function,
                "CKV_AWS_116",
                "No dead-letter queue: API Gateway invokes this function synchronously and the "
                "caller gets the error; Lambda sends only failed asynchronous events to a DLQ.",
            )
        if self.spec.every is None or not self._shared.config.reserve_scheduled_concurrency:
            skip_check(
                self.function,
                "CKV_AWS_115",
                "No reserved concurrency: reserving fails deploys on accounts whose quota is 10 "
                "and takes capacity from the rest of the account; API Gateway's route throttles "
                "bound the request functions, and scheduled runs cannot overlap "
                "(reserve_scheduled_concurrency turns reserving on, docs/deploy.md).",
            )

    def _acknowledge_tracing_permissions(self) -> None:
        acknowledge(
            self.role,
            "IAM5[Resource::*]",
            "Active tracing: X-Ray's PutTraceSegments and PutTelemetryRecords take no resource, "
            "so Lambda's tracing grant has to name '*'.",
        )


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServiceConfig,
        keys: Keys,
        tables: Tables,
        secret: ProcessorSecret,
        event_bus: events.IEventBus,
        anchors: AnchorBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        shared = SharedResources(
            config=config,
            keys=keys,
            tables=tables,
            secret=secret,
            anchors=anchors,
            code=runtime_code(),
            powertools=self._powertools_layer(),
            environment_values={
                **_environment_values(config, keys, tables, secret, anchors),
                "EVENT_BUS_NAME": event_bus.event_bus_name,
            },
            event_bus=event_bus,
        )
        self.by_spec = {
            spec.construct_id: ServiceFunction(self, spec.construct_id, spec=spec, shared=shared)
            for spec in FUNCTIONS
        }

    @property
    def api(self) -> lambda_.Function:
        return self.by_spec[API.construct_id].function

    @property
    def api_live(self) -> lambda_.Alias:
        """What the HTTP API invokes: the API function's SnapStart alias."""
        live = self.by_spec[API.construct_id].live
        assert live is not None, "the API function is published with SnapStart"
        return live

    @property
    def webhooks(self) -> lambda_.Function:
        return self.by_spec[WEBHOOKS.construct_id].function

    @property
    def reconciler(self) -> lambda_.Function:
        return self.by_spec[RECONCILER.construct_id].function

    @property
    def verifier(self) -> lambda_.Function:
        return self.by_spec[VERIFIER.construct_id].function

    @property
    def processor_reconciler(self) -> lambda_.Function:
        return self.by_spec[PROCESSOR_RECONCILER.construct_id].function

    def scheduled_runs(self) -> list[ScheduledRun]:
        """Each function with an interval, as the scheduler invokes it."""
        runs = []
        for built in self.by_spec.values():
            if built.spec.every is None or built.dead_letter_queue is None:
                continue
            for run_id, payload in _runs_of(built.spec):
                runs.append(
                    ScheduledRun(
                        construct_id=run_id,
                        every=built.spec.every,
                        description=built.spec.description,
                        function=built.function,
                        dead_letter_queue=built.dead_letter_queue,
                        payload=payload,
                    )
                )
        return runs

    @property
    def stream_publisher(self) -> ServiceFunction:
        return self.by_spec[STREAM_PUBLISHER.construct_id]

    @property
    def anchor(self) -> lambda_.Function:
        return self.by_spec[ANCHOR.construct_id].function

    @property
    def dead_letter_queues(self) -> dict[str, sqs.Queue]:
        return {
            name: built.dead_letter_queue
            for name, built in self.by_spec.items()
            if built.dead_letter_queue is not None
        }

    def _powertools_layer(self) -> lambda_.ILayerVersion:
        """The AWS-published layer for exactly POWERTOOLS_LAYER_VERSION, resolved at deploy time.

        AWS publishes each release's layer ARN as a public SSM parameter; CloudFormation reads it
        when it deploys, so synth stays offline.
        """
        layer_arn = ssm.StringParameter.value_for_string_parameter(
            self, powertools_layer_parameter()
        )
        return lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", layer_arn)


def _environment_values(
    config: ServiceConfig,
    keys: Keys,
    tables: Tables,
    secret: ProcessorSecret,
    anchors: AnchorBucket,
) -> dict[str, str]:
    """Every value a function may be given, keyed by variable name; each function takes the
    variables its settings model reads (FunctionSpec.environment). The configuration's values
    are passed as they are, each under its key in capitals (stacks/config.py OPTIONS)."""
    return {
        **{key.upper(): _text(value) for key, value in asdict(config).items()},
        "LEDGER_TABLE_NAME": tables.ledger.table.table_name,
        "AUDIT_TABLE_NAME": tables.audit.table.table_name,
        "IDEMPOTENCY_TABLE_NAME": tables.idempotency.table.table_name,
        "AUDIT_KEY_ID": keys.audit_fields.key_arn,
        "PROCESSOR_SECRET_ARN": secret.secret.secret_arn,
        "ANCHOR_BUCKET_NAME": anchors.bucket.bucket_name,
        "FX_RATES_TABLE_NAME": tables.fx_rates.table.table_name,
        **dict(zip(POWERTOOLS_VARIABLES, (SERVICE_NAME, METRICS_NAMESPACE), strict=True)),
    }


def _text(value: object) -> str:
    """A configuration value as its variable carries it: what the settings models parse."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def environment_of(spec: FunctionSpec, values: dict[str, str]) -> dict[str, str]:
    """The function's environment: a value for every variable its settings model reads."""
    unset = [name for name in spec.environment if name not in values]
    if unset:
        raise ValueError(
            f"{spec.construct_id}: {spec.settings.__name__} reads {', '.join(unset)}, "
            "which the stack has no value for (stacks/constructs/functions.py)"
        )
    return {name: values[name] for name in spec.environment}
