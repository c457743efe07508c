"""The HTTP contract (SPEC section 4) as pydantic models: request validation and OpenAPI."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
)

from refund_service.domain.errors import DomainError
from refund_service.domain.ids import MAX_TRANSACTION_ID_LENGTH, TRANSACTION_ID_PATTERN
from refund_service.domain.money import validate_currency

MAX_BODY_BYTES = 16 * 1024
MAX_METADATA_BYTES = 2 * 1024
MAX_METADATA_KEYS = 20
MAX_AMOUNT = 10**15  # far beyond any real payment, well inside DynamoDB's number range

Identifier = Annotated[
    StrictStr, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")
]
# Transaction ids are the service's own (refund ids derive from them): no `:` (domain/ids.py).
TransactionIdentifier = Annotated[
    StrictStr,
    Field(min_length=1, max_length=MAX_TRANSACTION_ID_LENGTH, pattern=TRANSACTION_ID_PATTERN),
]
Amount = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT, description="Minor units of currency")]
NonNegativeAmount = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]
FreeText = Annotated[StrictStr, Field(min_length=1, max_length=500)]
MetadataValue = StrictStr | StrictInt | bool | None


def _currency(value: str) -> str:
    code = value.upper()
    try:
        validate_currency(code)
    except DomainError as error:
        raise ValueError(error.message) from None
    return code


CurrencyCode = Annotated[
    StrictStr,
    Field(
        min_length=3,
        max_length=3,
        pattern=r"^[A-Za-z]{3}$",
        examples=["USD"],
        description="ISO 4217 alphabetic code (a code the standard lists with a minor unit)",
    ),
    AfterValidator(_currency),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RefundRequest(Strict):
    transaction_id: TransactionIdentifier
    amount: Amount | None = None
    currency: CurrencyCode | None = None
    reason: Literal["requested_by_customer", "duplicate", "fraudulent", "other"]
    metadata: dict[Annotated[str, Field(max_length=40)], MetadataValue] | None = None

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if len(value) > MAX_METADATA_KEYS:
            raise ValueError(f"metadata holds at most {MAX_METADATA_KEYS} keys")
        if len(json.dumps(value).encode()) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is limited to {MAX_METADATA_BYTES} bytes")
        return value


class PaymentRequest(Strict):
    """A payment to record. `settlement_currency` and `fx_rate` come together or not at all;
    `tax_amount` and `fee_amount` are at most `amount`."""

    transaction_id: TransactionIdentifier
    amount: Amount
    currency: CurrencyCode
    status: Literal["completed", "pending", "failed", "voided"]
    captured_at: Annotated[StrictStr, Field(max_length=40)] | None = None
    tax_amount: NonNegativeAmount = 0
    fee_amount: NonNegativeAmount = 0
    settlement_currency: CurrencyCode | None = None
    fx_rate: Annotated[StrictStr, Field(pattern=r"^\d{1,12}(\.\d{1,12})?$")] | None = None
    customer_reference: Annotated[StrictStr, Field(max_length=128)] | None = None
    processor_reference: Identifier | None = None


ChargebackId = Annotated[
    StrictStr, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
]


class ChargebackRequest(Strict):
    amount: Amount | None = None
    reason: FreeText | None = None
    processor_reference: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None
    chargeback_id: ChargebackId | None = None


class ResolveChargebackRequest(Strict):
    outcome: Literal["won", "lost"]


class RollbackRequest(Strict):
    reason: FreeText


# --- answers ----------------------------------------------------------------------------------
# Every field an answer carries is declared here, and nothing else may be: the OpenAPI document
# is generated from these models, so it lists every field the API returns. Fields marked
# `omitted_when_absent` leave the answer rather than show null.

RefundStatusName = Literal["pending", "success", "failed", "rolled_back"]


def _absent(value: Any) -> bool:
    return value is None


def omitted_when_absent(description: str | None = None) -> Any:
    """A field that the answer leaves out, rather than shows as null, when it has no value."""
    return Field(default=None, exclude_if=_absent, description=description)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ErrorResponse(Answer):
    message: str
    status: Literal["failed"]
    error_code: str
    details: dict[str, Any]
    correlation_id: str | None = omitted_when_absent("On INTERNAL_ERROR: quote it")
    processor_message: str | None = omitted_when_absent("On PROCESSOR_DECLINED: why")
    refund_transaction_id: str | None = omitted_when_absent("On PROCESSOR_DECLINED")


class RefundCreated(Answer):
    message: str
    refund_transaction_id: str
    status: Literal["success", "pending"]
    processor_message: str
    amount: int
    currency: str
    remaining_refundable: int


class PostingModel(Answer):
    account: str
    direction: Literal["debit", "credit"]
    amount: int
    currency: str


class FxQuoteModel(Answer):
    base: str
    quote: str
    rate: str = Field(description="Units of `quote` per unit of `base`, as a decimal string")
    source: str
    date: str = Field(description="The ISO date the rate was published for")


class EntryModel(Answer):
    entry_id: str
    seq: int
    type: str
    created_at: str
    refund_id: str | None
    currency: str
    amount: int
    postings: list[PostingModel]
    tax_amount: int | None = omitted_when_absent("Present when not 0")
    fee_amount: int | None = omitted_when_absent("Present when not 0")
    payment_status: str | None = omitted_when_absent()
    fx: FxQuoteModel | None = omitted_when_absent("The rate an FX entry was booked at")
    reverses_entry_id: str | None = omitted_when_absent()
    reference: str | None = omitted_when_absent("The processor's reference")
    note: str | None = omitted_when_absent()


PaymentStatusName = Literal["pending", "completed", "failed", "voided"]


class SummaryModel(Answer):
    transaction_id: str
    status: Literal[
        "pending",
        "completed",
        "partially_refunded",
        "refunded",
        "chargeback",
        "over_refunded",
        "failed",
    ]
    payment_status: PaymentStatusName | None
    currency: str
    captured_amount: int
    captured_at: str | None
    refunded_amount: int
    pending_refund_amount: int
    refundable_amount: int
    tax_amount: int
    tax_refunded_amount: int
    fee_amount: int
    fee_refunded_amount: int
    chargeback_amount: int
    settlement_currency: str | None
    fx_rate: str | None
    fx_adjustment_amount: int
    refund_count: int
    version: int


class LedgerResponse(Answer):
    summary: SummaryModel
    entries: list[EntryModel]


class LedgerPageResponse(LedgerResponse):
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


class ChargebackModel(Answer):
    chargeback_id: str
    amount: int
    status: Literal["open", "won", "lost"]
    opened_at: str
    requested_amount: int | None = None
    reason: str | None = None
    processor_reference: str | None = None
    resolved_at: str | None = None


class ChargebackResponse(Answer):
    chargeback_id: str
    chargeback: ChargebackModel
    summary: SummaryModel
    entries: list[EntryModel]


class ProcessorResultModel(Answer):
    """The processor's answer, normalized the same for every processor (docs/processors.md)."""

    status: str
    code: str
    retryable: bool
    message: str
    processor: str
    processor_reference: str | None = None
    processor_code: str | None = None
    processor_message: str | None = None


class RefundFields(Answer):
    refund_transaction_id: str
    transaction_id: str
    status: RefundStatusName
    amount: int
    currency: str
    tax_amount: int
    fee_amount: int
    reason: str
    metadata: dict[str, Any]
    processor: ProcessorResultModel | None
    requested_amount: int | None = Field(description="When asked in another currency")
    requested_currency: str | None
    conversion: FxQuoteModel | None
    created_at: str
    updated_at: str


class RefundResponse(RefundFields):
    entries: list[EntryModel]


class RefundFound(RefundFields):
    """A refund as `GET /refunds/{id}` shows it, without its entries, with its FX adjustment."""

    fx_adjustment_amount: int


class SearchResponse(Answer):
    refunds: list[RefundFound]
    next_cursor: str | None


class ReportRowModel(Answer):
    currency: str
    status: RefundStatusName
    count: int
    amount: int
    tax_amount: int
    fee_amount: int
    fx_adjustment_amount: int


class ReportResponse(Answer):
    date: str
    rows: list[ReportRowModel]


class InitiatorModel(Answer):
    type: Literal["user", "system"]
    id: str
    encrypted_fields: list[Literal["email", "source_ip"]] | None = omitted_when_absent(
        "Fields stored sealed, never shown in clear"
    )


class AuditRecordModel(Answer):
    seq: int
    action: str
    timestamp: str
    transaction_id: str
    refund_id: str | None
    amount: int | None
    currency: str | None
    initiator: InitiatorModel
    details: dict[str, Any]
    correlation_id: str | None
    prev_hash: str
    hash: str


class ChainModel(Answer):
    valid: bool
    length: int
    first_invalid_seq: int | None = omitted_when_absent("When not valid: the first bad record")
    reason: str | None = omitted_when_absent("When not valid: what is wrong")


class RepeatedRefusalModel(Answer):
    action: str
    error_code: str
    initiator_id: str
    first_at: str
    last_at: str
    count: int = Field(description="Identical refusals in this window so far")
    recorded: int = Field(description="The count the audit chain last attested")
    first_seq: int = Field(description="The audit record of the first of them")


class AuditResponse(Answer):
    records: list[AuditRecordModel]
    chain: ChainModel = Field(description="Verified over the whole chain, not only this page")
    repeated_refusals: list[RepeatedRefusalModel] = Field(
        default_factory=list,
        description="Identical refusals being counted rather than each recorded",
    )
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page"
    )
