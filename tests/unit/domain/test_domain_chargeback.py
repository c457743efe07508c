"""Disputes as facts (SPEC 3.1): what a new chargeback books, and what a won one frees for
the disputes still standing."""

from __future__ import annotations

from dataclasses import replace

from refund_service.domain.chargeback import (
    Chargeback,
    ChargebackStatus,
    DisputeOutcome,
    new_chargeback,
    top_ups,
)
from refund_service.domain.summary import Summary

NOW = "2026-11-02T09:00:00.000+00:00"


def _standing(cid: str, booked: int, claimed: int, opened_at: str) -> Chargeback:
    return Chargeback(cid, booked, ChargebackStatus.OPEN, opened_at, requested_amount=claimed)


def test_a_new_dispute_is_open_and_books_what_was_decided() -> None:
    chargeback = new_chargeback("dp_1", 5_000, 4_000, NOW, reason="fraud")
    assert chargeback.status is ChargebackStatus.OPEN
    assert (chargeback.amount, chargeback.requested_amount, chargeback.shortfall) == (
        4_000,
        5_000,
        1_000,
    )
    assert chargeback.resolved_at is None
    assert chargeback.reason == "fraud"


def test_a_dispute_won_before_it_opened_books_nothing() -> None:
    chargeback = new_chargeback("dp_1", 5_000, 5_000, NOW, ended=DisputeOutcome.WON)
    assert chargeback.status is ChargebackStatus.WON
    assert chargeback.amount == 0
    assert chargeback.resolved_at == NOW


def test_a_dispute_lost_before_it_opened_stands() -> None:
    chargeback = new_chargeback("dp_1", 5_000, 5_000, NOW, ended=DisputeOutcome.LOST)
    assert chargeback.status is ChargebackStatus.LOST
    assert chargeback.amount == 5_000
    assert chargeback.resolved_at == NOW


def test_a_won_dispute_frees_room_for_the_standing_ones_oldest_first() -> None:
    # Given 10000 captured, 3000 still charged back after the won one's reversal
    summary = replace(Summary("txn-cb-1"), captured_amount=10_000, chargeback_amount=3_000)
    chargebacks = {
        "won": replace(_standing("won", 6_000, 6_000, "1"), status=ChargebackStatus.WON),
        "late": _standing("late", 0, 5_000, "3"),
        "early": _standing("early", 3_000, 6_000, "2"),
        "whole": _standing("whole", 2_000, 2_000, "0"),
    }
    # Then the oldest short one takes what it lacks, the next what is left, up to captured
    booked = top_ups(chargebacks, "won", summary)
    assert [(c.chargeback_id, more) for c, more in booked] == [("early", 3_000), ("late", 4_000)]


def test_nothing_is_topped_up_when_nothing_is_free() -> None:
    summary = replace(Summary("txn-cb-1"), captured_amount=10_000, chargeback_amount=10_000)
    chargebacks = {"short": _standing("short", 1_000, 4_000, "1")}
    assert top_ups(chargebacks, "won", summary) == []
