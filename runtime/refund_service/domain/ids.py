"""Ids the service issues: transaction ids as recorded, and refund ids derived from them,
`{transaction_id}-REFUND` for the first, then `-REFUND-2`, `-REFUND-3`, ...

Neither holds a `:`. Adyen signs a notification's fields joined with `:`, so a `:` in the
merchant reference (our refund id) would let a signed notification be re-split into other
fields with the signature still matching.
"""

from __future__ import annotations

import re

MAX_TRANSACTION_ID_LENGTH = 128
TRANSACTION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"
_REFUND_ID = re.compile(r"^(?P<transaction_id>.+)-REFUND(?:-(?P<n>[2-9]|[1-9]\d+))?$")


def refund_id(transaction_id: str, n: int) -> str:
    if n < 1:
        raise ValueError("refunds are numbered from 1")
    if not transaction_id:
        raise ValueError("a refund belongs to a transaction")
    if ":" in transaction_id:
        raise ValueError("an id the service issues holds no ':'")
    return f"{transaction_id}-REFUND" if n == 1 else f"{transaction_id}-REFUND-{n}"


def parse_refund_id(value: str) -> tuple[str, int] | None:
    """(transaction_id, n) of a well-formed refund id, else None."""
    match = _REFUND_ID.fullmatch(value)
    if not match:
        return None
    return match["transaction_id"], int(match["n"] or 1)
