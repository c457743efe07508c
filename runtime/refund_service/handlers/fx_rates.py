"""Scheduled: fetch the ECB's daily reference rates and store them (service/fx_rates.py).

Emits FxRatesAgeDays (alarmed above 4) on every run; a refused or unreachable feed fails the
run after that, so it counts as a function error and lands in the dead-letter queue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from refund_service.adapters.ecb_feed import FeedError, fetch_feed
from refund_service.bootstrap import build_fx_rates
from refund_service.observability import PowertoolsMetricsSink, logger, metrics, tracer
from refund_service.service.fx_rates import FX_RATES_AGE_DAYS, RatesStore, refresh
from refund_service.settings import FxRatesSettings

SETTINGS = FxRatesSettings


@cache
def store() -> RatesStore:
    return build_fx_rates(SETTINGS.from_environ())


def _fetch() -> bytes:
    try:
        return fetch_feed()
    except FeedError:
        raise
    except Exception as error:  # any transport failure is a feed problem, reported as one
        raise FeedError(f"could not fetch the ECB feed: {error}") from error


def run_once(rates_store: RatesStore, today: Any = None) -> dict[str, Any]:
    day = today or datetime.now(UTC).date()
    report = refresh(_fetch, rates_store, day)
    PowertoolsMetricsSink().measure(FX_RATES_AGE_DAYS, report.age_days, "Count")
    result = {
        "stored_day": report.stored_day.isoformat() if report.stored_day else None,
        "newest_day": report.newest_day.isoformat() if report.newest_day else None,
        "age_days": report.age_days,
    }
    if report.problem is not None:
        logger.error("ECB feed refused", extra={**result, "problem": report.problem})
        raise FeedError(report.problem)
    logger.info("ECB rates stored", extra=result)
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_once(store())
