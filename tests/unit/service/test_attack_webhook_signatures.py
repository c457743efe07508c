"""Attacks on webhook authentication: an Adyen item is signed over its fields joined with ':'
and nothing escaped, so a signed item whose fields hold ':' can be re-split into other fields
under the same signature. The parser must not let that name our merchant account."""

from __future__ import annotations

import json
from typing import Any

from refund_service.adapters.processors.webhooks_adyen import AdyenWebhooks, adyen_signature
from refund_service.domain.refund import RefundStatus
from refund_service.service.webhooks import handle_event
from tests.support.world import World
from tests.unit.service.test_processor_agreement import InMemoryLog, refund

KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"


def signed(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "additionalData": {"hmacSignature": adyen_signature(item, KEY)}}


def body(*items: dict[str, Any]) -> bytes:
    wrapped = [{"NotificationRequestItem": item} for item in items]
    return json.dumps({"live": "false", "notificationItems": wrapped}).encode()


def test_a_signed_item_of_another_merchant_account_is_re_split_into_one_of_ours(
    world: World,
) -> None:
    # Given a refund of ours the processor declined: nothing was paid
    tid = world.pay(amount=10_000)
    declined = refund(world, tid, 4_000, metadata={"simulate": "decline"})
    rid = declined.refund.refund_id
    assert declined.refund.status is RefundStatus.FAILED
    # And a genuine, signed REFUND item of another merchant account under the same
    # (company-level) key, whose merchantReference that account chose: "Shop:<our refund id>"
    theirs = {
        "pspReference": "RF000001",
        "originalReference": "",
        "merchantAccountCode": "OtherShop",
        "merchantReference": f"Shop:{rid}",
        "amount": {"value": 4_000, "currency": "USD"},
        "eventCode": "REFUND",
        "success": "true",
    }
    genuine = signed(theirs)
    # When its fields are re-split at the same ':' boundaries, keeping the signature
    forged = {
        **genuine,
        "originalReference": ":OtherShop",
        "merchantAccountCode": "Shop",
        "merchantReference": rid,
    }
    parser = AdyenWebhooks([KEY], "Shop")
    events = parser.parse({}, body(forged))  # accepted: the signature still matches
    for event in events:
        handle_event(world.services, InMemoryLog(), event)
    # Then our ledger is unchanged: the item was never ours to act on
    assert world.store.load(tid).refunds[rid].status is RefundStatus.FAILED
