"""Stripe webhooks: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`, v1 = HMAC-SHA256 over
`<t>.<raw body>` with the endpoint secret. We accept a v1 from any configured secret (rotation)
and a timestamp within five minutes of our clock.

Refund events settle refunds; dispute events map onto the dispute kinds, all events of one
dispute sharing its `dp_...` id as `dispute_reference`:

- `charge.dispute.created`, `charge.dispute.funds_withdrawn`: CHARGEBACK (the second is the
  same booking again, so a missed `created` is made up for). An inquiry (`warning_*` status)
  and a prevented dispute (`prevented`: blocked or resolved before it became a chargeback)
  move no money through the dispute and are ignored on `created`: if money moves after all,
  `funds_withdrawn` books it, and a resolution's refund arrives as a refund;
- `charge.dispute.funds_reinstated`: CHARGEBACK_WON when the dispute's status is `won`; with
  any other status (a "partial win": the refunded part of a lost dispute's payment returned)
  IGNORED and logged, since the ledger books no partial reversal;
- `charge.dispute.closed`: CHARGEBACK_WON if `won`, CHARGEBACK_LOST if `lost`, else IGNORED
  (`warning_closed`, an inquiry closed without becoming a chargeback; `prevented`; a status
  this code does not know, which must not read as a won dispute).

Dispute statuses are those of API version 2026-10-28.endive (credentials.STRIPE_API_VERSION).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from refund_service.adapters.processors import stripe as stripe_api
from refund_service.adapters.processors.amounts import UnrepresentableAmountError
from refund_service.adapters.processors.credentials import STRIPE_API_VERSION
from refund_service.adapters.processors.fields import mapping, text
from refund_service.adapters.processors.webhooks import (
    TOLERANCE_SECONDS,
    Counter,
    WebhookPayloadError,
    field,
    json_object,
    object_field,
    transaction_of,
    verify_timestamped_signature,
)
from refund_service.domain.errors import UnknownCurrencyError
from refund_service.domain.processor import (
    ProcessorStatus,
    WebhookEvent,
    WebhookEventKind,
)

SIGNATURE_HEADER = "Stripe-Signature"
REFUND_EVENTS = frozenset(
    {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)
DISPUTE_OPENED_EVENTS = frozenset({"charge.dispute.created", "charge.dispute.funds_withdrawn"})
DISPUTE_FUNDS_WITHDRAWN = "charge.dispute.funds_withdrawn"
DISPUTE_WON_EVENTS = frozenset({"charge.dispute.funds_reinstated"})
DISPUTE_CLOSED = "charge.dispute.closed"
# A closed dispute's final `status`; any other (`warning_closed`, `prevented`, ...) is ignored.
CLOSED_STATUSES = {
    "won": WebhookEventKind.CHARGEBACK_WON,
    "lost": WebhookEventKind.CHARGEBACK_LOST,
}
# A dispute that has taken no money: an inquiry (`warning_*`), or a prevented dispute.
INQUIRY_PREFIX = "warning_"
PREVENTED = "prevented"
# Counted once per event rendered in an API version other than the one the adapter reads.
OTHER_VERSION_METRIC = "WebhookOtherApiVersion"

_log = logging.getLogger(__name__)

_REFUND_KINDS = {
    ProcessorStatus.SUCCEEDED: WebhookEventKind.REFUND_SUCCEEDED,
    ProcessorStatus.FAILED: WebhookEventKind.REFUND_FAILED,
    ProcessorStatus.PENDING: WebhookEventKind.IGNORED,
}


def _refund_event(
    event_id: str, event_type: str, refund: Mapping[str, Any], previous: Mapping[str, Any]
) -> WebhookEvent:
    if event_type == "refund.failed":
        result = stripe_api.result_of_failure(refund)
    else:
        result = stripe_api.result_of_refund(refund)
    kind = _REFUND_KINDS[result.status]
    late = kind is WebhookEventKind.REFUND_FAILED and previous.get("status") == "succeeded"
    metadata = mapping(refund.get("metadata"))
    refund_id = text(metadata.get("refund_id"))
    amount, currency = _amount(refund)
    return WebhookEvent(
        processor=stripe_api.NAME,
        event_id=event_id,
        kind=kind,
        event_type=event_type,
        refund_id=refund_id,
        transaction_id=text(metadata.get("transaction_id")) or transaction_of(refund_id),
        amount=amount,
        currency=currency,
        result=result,
        reason="failed after succeeded" if late else result.processor_code,
        payment_reference=text(refund.get("payment_intent")) or text(refund.get("charge")),
        other_payment_references=_charge_too(refund),
    )


def _charge_too(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The charge id as well, when the payment intent names the payment: a payment may have
    been recorded by either."""
    charge = text(obj.get("charge"))
    return (charge,) if charge and text(obj.get("payment_intent")) else ()


def dispute_kind(event_type: str, dispute: Mapping[str, Any]) -> WebhookEventKind:
    if event_type in DISPUTE_OPENED_EVENTS:
        status = str(dispute.get("status", ""))
        no_funds = status.startswith(INQUIRY_PREFIX) or status == PREVENTED
        if no_funds and event_type != DISPUTE_FUNDS_WITHDRAWN:
            return WebhookEventKind.IGNORED  # no money has moved through the dispute
        return WebhookEventKind.CHARGEBACK
    if event_type in DISPUTE_WON_EVENTS:
        if dispute.get("status") == "won":
            return WebhookEventKind.CHARGEBACK_WON
        # Funds returned on a dispute that is not won: a "partial win", where Stripe returns
        # the refunded part of a lost dispute's payment. Reading it as a win would reverse the
        # whole chargeback; the ledger has no partial reversal, so an operator is told.
        _log.warning(
            "Stripe returned part of a dispute's funds without winning it: not booked",
            extra={"dispute_id": text(dispute.get("id")), "dispute_status": dispute.get("status")},
        )
        return WebhookEventKind.IGNORED
    return CLOSED_STATUSES.get(str(dispute.get("status")), WebhookEventKind.IGNORED)


def _dispute_event(event_id: str, event_type: str, dispute: Mapping[str, Any]) -> WebhookEvent:
    dispute_id = text(dispute.get("id"))
    if dispute_id is None:
        raise WebhookPayloadError("a dispute event needs the dispute's id")
    amount, currency = _amount(dispute)
    return WebhookEvent(
        processor=stripe_api.NAME,
        event_id=event_id,
        kind=dispute_kind(event_type, dispute),
        event_type=event_type,
        transaction_id=text(mapping(dispute.get("metadata")).get("transaction_id")),
        amount=amount,
        currency=currency,
        reason=text(dispute.get("reason")),
        payment_reference=text(dispute.get("payment_intent")) or text(dispute.get("charge")),
        other_payment_references=_charge_too(dispute),
        dispute_reference=dispute_id,
    )


def _amount(obj: Mapping[str, Any]) -> tuple[int | None, str | None]:
    try:
        return stripe_api.amount_from_stripe(obj)
    except (UnrepresentableAmountError, UnknownCurrencyError) as error:
        raise WebhookPayloadError(f"unreadable amount: {error}") from None


def classify_event(event: Mapping[str, Any]) -> WebhookEvent:
    """By event type first: refund events by the refund's status, disputes by their stage."""
    event_id = text(field(event, "id"))
    event_type = text(field(event, "type"))
    if event_id is None or event_type is None:
        raise WebhookPayloadError("event id and type must be strings")
    disputes = DISPUTE_OPENED_EVENTS | DISPUTE_WON_EVENTS | {DISPUTE_CLOSED}
    if event_type not in REFUND_EVENTS | disputes:
        return WebhookEvent(
            processor=stripe_api.NAME,
            event_id=event_id,
            kind=WebhookEventKind.IGNORED,
            event_type=event_type,
        )
    data = object_field(event, "data")
    obj = object_field(data, "object")
    if event_type in disputes:
        return _dispute_event(event_id, event_type, obj)
    previous = mapping(data.get("previous_attributes"))
    return _refund_event(event_id, event_type, obj, previous)


class StripeWebhooks:
    name = stripe_api.NAME

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        api_version: str = STRIPE_API_VERSION,
        metrics: Counter | None = None,
        tolerance: int = TOLERANCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        if not secrets or not all(secrets):
            raise ValueError("at least one Stripe webhook signing secret is needed")
        self._secrets = tuple(secrets)
        self._api_version = api_version
        self._metrics = metrics
        self._tolerance = tolerance
        self._clock = clock

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        verify_timestamped_signature(
            body, headers, SIGNATURE_HEADER, self._secrets, self._clock(), self._tolerance
        )
        event = json_object(body)
        self._check_version(event)
        return [classify_event(event)]

    def _check_version(self, event: Mapping[str, Any]) -> None:
        """Stripe renders an event in its endpoint's API version, not ours: one in another
        version is still read (an unknown status never reads as paid or won), but an operator
        must move the endpoint (docs/processors.md, "The API version")."""
        version = text(event.get("api_version"))
        if version is None or version == self._api_version:
            return
        _log.warning(
            "Stripe event rendered in another API version than the adapter reads",
            extra={
                "event_id": text(event.get("id")),
                "event_api_version": version,
                "adapter_api_version": self._api_version,
            },
        )
        if self._metrics is not None:
            self._metrics.count(OTHER_VERSION_METRIC)
