"""The ECB's daily euro reference rates feed (eurofxref-daily.xml): fetched and validated.

The feed is one small XML document: a gesmes envelope holding one `Cube time='YYYY-MM-DD'`
with one `Cube currency='USD' rate='1.1172'` per currency (units per euro). A body that is not
exactly that, or whose day is stale, is refused rather than stored: stored rates are what
refunds are converted at.
"""

from __future__ import annotations

import re
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from xml.etree import ElementTree

from refund_service.domain.fx import parse_rate

FEED_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
EUROFXREF = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"
GESMES = "{http://www.gesmes.org/xml/2002-08-01}"
MAX_BODY_BYTES = 64 * 1024  # the feed is about 2 KB
# Weekends and TARGET holidays (Easter brings four days in a row) have no publication.
MAX_FEED_AGE = timedelta(days=4)
# The ECB publishes around thirty currencies; far fewer means a truncated or wrong document.
MIN_CURRENCIES = 20
REQUIRED_CURRENCIES = frozenset({"USD", "GBP", "JPY", "CHF"})
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_FETCH_TIMEOUT_SECONDS = 10


class FeedError(ValueError):
    """The feed could not be read, or is not a current, well-formed reference-rates document."""


@dataclass(frozen=True)
class DailyRates:
    """One publication day: units of each currency per euro."""

    day: date
    per_euro: dict[str, Decimal]


def fetch_feed(url: str = FEED_URL) -> bytes:
    if not url.startswith("https://"):
        raise FeedError(f"refusing a feed URL that is not https: {url!r}")
    request = urllib.request.Request(url, headers={"Accept": "application/xml"})  # noqa: S310 - https only, checked above
    try:
        with urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            body: bytes = response.read(MAX_BODY_BYTES + 1)
    except OSError as error:
        raise FeedError(f"could not fetch the ECB feed: {error}") from error
    return body


def parse_daily_feed(body: bytes, today: date) -> DailyRates:
    """The day and rates of a feed body, or FeedError saying what is wrong with it."""
    if len(body) > MAX_BODY_BYTES:
        raise FeedError(f"feed body over {MAX_BODY_BYTES} bytes")
    # No document type, so no entity can expand (the feed never declares one).
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise FeedError("feed declares a document type or entities")
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - no DTD or entities, checked above
    except ElementTree.ParseError as error:
        raise FeedError(f"feed is not well-formed XML: {error}") from error
    if root.tag != f"{GESMES}Envelope":
        raise FeedError(f"feed root is {root.tag!r}, not the gesmes envelope")
    days = root.findall(f"./{EUROFXREF}Cube/{EUROFXREF}Cube[@time]")
    if len(days) != 1:
        raise FeedError(f"feed holds {len(days)} days, not one")
    day = _day(days[0].get("time", ""), today)
    return DailyRates(day=day, per_euro=_rates(days[0]))


def _day(text: str, today: date) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise FeedError(f"feed day is not a date: {text!r}") from None
    if day > today:
        raise FeedError(f"feed day {day} is after today ({today})")
    if today - day > MAX_FEED_AGE:
        raise FeedError(
            f"feed is stale: {day} is more than {MAX_FEED_AGE.days} days before {today}"
        )
    return day


def _rates(day_cube: ElementTree.Element) -> dict[str, Decimal]:
    rates: dict[str, Decimal] = {}
    for cube in day_cube:
        currency, text = cube.get("currency", ""), cube.get("rate", "")
        if not _CURRENCY.match(currency):
            raise FeedError(f"feed names a currency {currency!r}")
        if currency in rates or currency == "EUR":
            raise FeedError(f"feed lists {currency} twice or quotes the euro itself")
        try:
            rates[currency] = parse_rate(text)
        except ValueError as error:
            raise FeedError(f"feed rate for {currency}: {error}") from None
    missing = REQUIRED_CURRENCIES - set(rates)
    if missing or len(rates) < MIN_CURRENCIES:
        raise FeedError(
            f"feed holds {len(rates)} currencies (missing {', '.join(sorted(missing)) or 'none'})"
        )
    return rates
