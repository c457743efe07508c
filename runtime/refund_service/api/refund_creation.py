"""POST /refunds behind an idempotency key.

Powertools Idempotency stores each answer under the caller's key: the same key and body get
the stored answer again, a different body is refused, a key still running is reported. Business
refusals and processor declines are stored; an unreachable processor, contention and bugs are
raised instead, so the record is dropped and a retry runs again. The key's digest is also kept
on the refund itself, so a retry after a crash resumes that refund instead of starting another.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from refund_service import observability_names as names
from refund_service.api.errors import HTTP_STATUS, REPLAYABLE, ApiError, api_error, error_body
from refund_service.domain.errors import DomainError, ErrorCode
from refund_service.domain.refund import RefundReason, RefundStatus
from refund_service.service.context import Caller, Services
from refund_service.service.refunds import RefundCommand, RefundOutcome, request_refund
from refund_service.service.refusals import audit_key_reuse

SUCCESS_MESSAGE = "Refund processed successfully."
PENDING_MESSAGE = "Refund submitted; the processor has not confirmed it yet."
DECLINED_MESSAGE = "The processor declined the refund."
UNAVAILABLE_MESSAGE = "The processor could not be reached; nothing was refunded. Retry later."
ROLLED_BACK_MESSAGE = (
    "The refund made under this Idempotency-Key was rolled back; nothing of it stands. "
    "Send a new key to refund again."
)
ANSWER_TTL_SECONDS = 24 * 60 * 60


def key_digest(caller: Caller, key: str) -> str:
    """Keys are scoped per caller; only their digest is stored. The parts are hashed as a JSON
    array, so no caller id and key can be spelled to collide with another pair."""
    material = json.dumps([caller.initiator.type, caller.initiator.id, key], ensure_ascii=True)
    return hashlib.sha256(material.encode()).hexdigest()[:40]


def outcome_answer(outcome: RefundOutcome) -> dict[str, Any]:
    """The HTTP answer for a finished workflow; raises an unstored answer when retry is right."""
    refund, result = outcome.refund, outcome.result
    if refund.status is RefundStatus.ROLLED_BACK:
        raise api_error(
            ErrorCode.REFUND_ROLLED_BACK,
            ROLLED_BACK_MESSAGE,
            {"refund_transaction_id": refund.refund_id, "refund_status": refund.status.value},
        )
    if refund.status is RefundStatus.FAILED:
        details = {
            "refund_transaction_id": refund.refund_id,
            "processor_code": result.code.value,
            "processor_message": result.message,
        }
        if result.retryable:  # unreachable or rate limited: it refunded nothing; retry later
            raise api_error(ErrorCode.PROCESSOR_UNAVAILABLE, UNAVAILABLE_MESSAGE, details)
        body = error_body(
            ErrorCode.PROCESSOR_DECLINED,
            DECLINED_MESSAGE,
            details,
            refund_transaction_id=refund.refund_id,
            processor_message=result.message,
        )
        return {"status_code": HTTP_STATUS[ErrorCode.PROCESSOR_DECLINED], "body": body}
    pending = refund.status is RefundStatus.PENDING
    body = {
        "message": PENDING_MESSAGE if pending else SUCCESS_MESSAGE,
        "refund_transaction_id": refund.refund_id,
        "status": "pending" if pending else "success",
        "processor_message": result.message,
        "amount": refund.amount,
        "currency": refund.currency,
        "remaining_refundable": outcome.summary.refundable_amount,
    }
    return {"status_code": 202 if pending else 200, "body": body}


class RefundAnswer(NamedTuple):
    """What `POST /refunds` answers: its status, its body (a refund created or pending, or a
    refusal in the error envelope) and whether it is the stored answer replayed."""

    status_code: int
    body: dict[str, Any]
    replayed: bool

    @property
    def refund_id(self) -> str | None:
        """The refund this answer is about, when there is one (a decline names it too)."""
        refund_id = self.body.get("refund_transaction_id")
        return str(refund_id) if refund_id else None


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "replayed": True}


class RefundCreator:
    def __init__(self, services: Services, idempotency_table: str, client: Any):
        self.services = services
        self.config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ANSWER_TTL_SECONDS,
            response_hook=_mark_replayed,
        )
        persistence = DynamoDBPersistenceLayer(table_name=idempotency_table, boto3_client=client)
        self._run = idempotent_function(
            data_keyword_argument="request", persistence_store=persistence, config=self.config
        )(self._create)

    def _create(self, caller: Caller, request: dict[str, Any]) -> dict[str, Any]:
        body = request["body"]
        command = RefundCommand(
            transaction_id=body["transaction_id"],
            reason=RefundReason(body["reason"]),
            amount=body.get("amount"),
            currency=body.get("currency"),
            metadata=body.get("metadata") or {},
            idempotency_key=request["key"],
        )
        try:
            outcome = request_refund(self.services, command, caller)
        except DomainError as refusal:
            if refusal.code not in REPLAYABLE:
                raise
            return {
                "status_code": HTTP_STATUS[refusal.code],
                "body": error_body(refusal.code, refusal.message, refusal.details),
            }
        return outcome_answer(outcome)

    def create(
        self, caller: Caller, key: str, body: dict[str, Any], lambda_context: Any = None
    ) -> RefundAnswer:
        """The answer to a refund request under an idempotency key."""
        if lambda_context is not None:
            self.config.register_lambda_context(lambda_context)
        request = {"key": key_digest(caller, key), "body": body}
        try:
            answer = self._run(caller, request=request)
        except IdempotencyAlreadyInProgressError:
            self.services.metrics.count(names.DUPLICATE_BLOCKED)
            raise api_error(
                ErrorCode.IDEMPOTENCY_IN_PROGRESS,
                "A request with this Idempotency-Key is still being processed.",
            ) from None
        except IdempotencyValidationError:
            audit_key_reuse(self.services, str(body.get("transaction_id")), caller)
            raise api_error(
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                "This Idempotency-Key was used with a different request body.",
            ) from None
        except ApiError:
            raise
        replayed = bool(answer.pop("replayed", False))
        if replayed:
            self.services.metrics.count(names.DUPLICATE_BLOCKED)
        return RefundAnswer(int(answer["status_code"]), answer["body"], replayed)
