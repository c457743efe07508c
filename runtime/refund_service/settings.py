"""Each function's settings: one typed model per function, read from the environment once.

A model's settings are exactly the variables its function reads, each declared as a
`Variable`: the variable's name, how its text is parsed, and a default only where leaving it
unset has a meaning. A field without a default is required, so a
missing table name stops the function at its first invocation with the variable named,
instead of writing to a table nobody configured. The CDK stack gives each function its model's
variables (stacks/constructs/functions.py) and the local stack gives the union of its
functions' (local/config.py); tests/infra/test_environment_contract.py holds the models and
the synthesized template together. Why a hand-written model rather than pydantic-settings:
docs/decisions/0023-settings-models.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Generic, Self, TypeVar, overload

from refund_service.domain.allocation import FeePolicy

PROCESSORS = ("simulated", "stripe", "adyen")
# Read only by the local stack: no deployed function is given these (the simulated processor
# and the anchor folder are local), and the stack's environment leaves them out.
LOCAL_ONLY_VARIABLES = ("SIMULATED_WEBHOOK_SECRET", "ANCHOR_FOLDER")
# Read by Powertools in every function, whatever its model.
POWERTOOLS_VARIABLES = ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE")

T = TypeVar("T")


class SettingsError(ValueError):
    """An environment variable is missing or malformed."""


def _text(name: str, raw: str) -> str:
    return raw


def _name(name: str, raw: str) -> str:
    if not raw:
        raise SettingsError(f"{name} is set but empty: it must name the resource")
    return raw


def _positive_int(name: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) <= 0:
        raise SettingsError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def _boolean(name: str, raw: str) -> bool:
    if raw not in ("true", "false"):
        raise SettingsError(f"{name} must be 'true' or 'false', got {raw!r}")
    return raw == "true"


def _fee_policy(name: str, raw: str) -> FeePolicy:
    try:
        return FeePolicy(raw)
    except ValueError:
        raise SettingsError(f"{name} must be one of {[p.value for p in FeePolicy]}") from None


def _processor(name: str, raw: str) -> str:
    if raw not in PROCESSORS:
        raise SettingsError(f"{name} must be one of {PROCESSORS}, got {raw!r}")
    return raw


class _Unset:
    """No default: the variable is required."""


REQUIRED = _Unset()


class Variable(Generic[T]):
    """One setting of a model: the variable it is read from, how its text is parsed, and its
    default when it may be left unset."""

    def __init__(self, name: str, parse: Callable[[str, str], T], default: T | _Unset = REQUIRED):
        self.name = name
        self.parse = parse
        self.default = default
        self.attribute = ""

    def __set_name__(self, owner: type, attribute: str) -> None:
        self.attribute = attribute

    @property
    def required(self) -> bool:
        return isinstance(self.default, _Unset)

    @overload
    def __get__(self, instance: None, owner: type) -> Variable[T]: ...
    @overload
    def __get__(self, instance: FunctionSettings, owner: type) -> T: ...
    def __get__(self, instance: FunctionSettings | None, owner: type) -> Variable[T] | T:
        if instance is None:
            return self
        value: T = instance._values[self.attribute]
        return value


class FunctionSettings:
    """A settings model: its `Variable`s, own and inherited, read once and read-only after.

    Hand-written rather than a dataclass: a dozen frozen dataclasses cost ~12 ms of import in
    every function, this next to nothing (docs/decisions/0023-settings-models.md)."""

    __slots__ = ("_values",)
    _values: dict[str, Any]

    def __init__(self, **values: Any) -> None:
        declared = self.declared()
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no setting {', '.join(unknown)}")
        missing = [v.name for a, v in declared.items() if a not in values and v.required]
        if missing:
            raise SettingsError(f"{type(self).__name__} needs {', '.join(missing)}: not set")
        defaults = {a: v.default for a, v in declared.items() if not v.required}
        object.__setattr__(self, "_values", defaults | values)
        self.check()

    def check(self) -> None:
        """Rules across settings, raising SettingsError; none by default."""

    @classmethod
    def declared(cls) -> dict[str, Variable[Any]]:
        """The model's settings by attribute, the inherited ones first."""
        found: dict[str, Variable[Any]] = {}
        for klass in reversed(cls.__mro__):
            found.update((k, v) for k, v in vars(klass).items() if isinstance(v, Variable))
        return found

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The model from `environ` (the process's environment by default); every missing
        required variable is named at once."""
        environ = os.environ if environ is None else environ
        values = {
            attribute: variable.parse(variable.name, environ[variable.name])
            for attribute, variable in cls.declared().items()
            if variable.name in environ
        }
        return cls(**values)

    @classmethod
    def variables(cls) -> tuple[str, ...]:
        """Every variable the function reads: its settings', then Powertools' own."""
        return tuple(v.name for v in cls.declared().values()) + POWERTOOLS_VARIABLES

    @classmethod
    def deployed_variables(cls) -> tuple[str, ...]:
        """What the deployed function is given: all but the local-only variables."""
        return tuple(name for name in cls.variables() if name not in LOCAL_ONLY_VARIABLES)

    @classmethod
    def required_variables(cls) -> tuple[str, ...]:
        return tuple(v.name for v in cls.declared().values() if v.required)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values == other.as_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self._values.items()))))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({shown})"


class LedgerTables(FunctionSettings):
    ledger_table = Variable("LEDGER_TABLE_NAME", _name)
    audit_table = Variable("AUDIT_TABLE_NAME", _name)


class ServiceSettings(LedgerTables):
    """The ledger and the processor: what the service layer's Services are built from."""

    # The simulated processor keeps its memory here, as Powertools its idempotency records.
    idempotency_table = Variable("IDEMPOTENCY_TABLE_NAME", _name)
    processor = Variable("PROCESSOR", _processor)
    # A real processor's credentials; empty for the simulated processor, which has none.
    processor_secret_arn = Variable("PROCESSOR_SECRET_ARN", _text)
    # Signs the simulated processor's webhooks (local only); empty refuses every one of them.
    simulated_webhook_secret = Variable("SIMULATED_WEBHOOK_SECRET", _text, "")


class AnchorLocation(FunctionSettings):
    """Where the hourly anchors of the audit chain heads are: an S3 bucket in AWS, a folder
    (`.local/anchors`) when ANCHOR_FOLDER is set instead, as the local stack does; neither:
    none (the verifier then checks the chains without them)."""

    anchor_bucket = Variable("ANCHOR_BUCKET_NAME", _text, "")
    anchor_folder = Variable("ANCHOR_FOLDER", _text, "")


class ApiSettings(ServiceSettings):
    audit_key_id = Variable("AUDIT_KEY_ID", _text)
    refund_window_days = Variable("REFUND_WINDOW_DAYS", _positive_int)
    fee_policy = Variable("FEE_POLICY", _fee_policy)
    currency_conversion = Variable("CURRENCY_CONVERSION", _boolean)
    # The stored ECB daily rates; unset: none, and the bundled history serves every quote
    # (the local stack, which has no feed offline).
    fx_rates_table = Variable("FX_RATES_TABLE_NAME", _text, "")


class WebhookSettings(ServiceSettings):
    """The ledger and the processor, whose webhooks it receives: nothing more."""


class ReconcilerSettings(ServiceSettings):
    reconcile_after_minutes = Variable("RECONCILE_AFTER_MINUTES", _positive_int)
    stale_pending_hours = Variable("STALE_PENDING_HOURS", _positive_int)


class ProcessorReconcilerSettings(ServiceSettings):
    # The window ends where the pending reconciler begins; it reaches this far back.
    reconcile_after_minutes = Variable("RECONCILE_AFTER_MINUTES", _positive_int)
    processor_reconcile_window_hours = Variable("PROCESSOR_RECONCILE_WINDOW_HOURS", _positive_int)


class VerifierSettings(LedgerTables, AnchorLocation):
    # Holds the sweep's leases and checkpoints.
    idempotency_table = Variable("IDEMPOTENCY_TABLE_NAME", _name)


class StreamPublisherSettings(LedgerTables):
    # Where the refund events go (SPEC 4.2).
    event_bus_name = Variable("EVENT_BUS_NAME", _name)


class AnchorSettings(AnchorLocation):
    ledger_table = Variable("LEDGER_TABLE_NAME", _name)

    def check(self) -> None:
        if not (self.anchor_bucket or self.anchor_folder):
            raise SettingsError("ANCHOR_BUCKET_NAME is not set: there is nowhere to anchor")


class FxRatesSettings(FunctionSettings):
    fx_rates_table = Variable("FX_RATES_TABLE_NAME", _name)
