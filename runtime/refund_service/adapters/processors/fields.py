"""Reading fields of vendor JSON, where absent values come as null, "" or a different type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def text(value: object) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def mapping(value: object) -> Mapping[str, Any]:
    """A JSON object, or an empty one."""
    return value if isinstance(value, dict) else {}
