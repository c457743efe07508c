"""What a request must pass before the resolver sees it (docs/decisions/0013).

In this order, each step looking at no more than it needs:

1. the body's size, counted, not read;
2. the route and the token: a request that is no route, or whose caller may not use it, is
   answered without its body being parsed;
3. the body's media type, then its JSON, parsed with bounds: nesting depth, length of number
   literals, no duplicate keys, no text that is not valid Unicode.

The resolver parses bodies with `strict_loads` too, and re-checks the scope of the route it
resolved (`authorize_resolved_route`), so neither check rests on the other alone.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from refund_service.api.auth import (
    PUBLIC_ROUTES,
    ROUTE_SCOPES,
    Denial,
    Principal,
    authorize,
    authorize_scope,
)
from refund_service.api.errors import HTTP_STATUS, api_error, error_body
from refund_service.api.models import MAX_BODY_BYTES
from refund_service.domain.errors import ErrorCode

MAX_JSON_DEPTH = 8  # our bodies nest two deep (a refund's metadata); room to grow
MAX_NUMBER_CHARS = 32  # the largest amount has 16 digits; int() of 4,301 digits raises
WEBHOOK_MAX_BYTES = 256 * 1024
WEBHOOK_MAX_DEPTH = 32  # a Stripe event nests about eight deep
JSON = "application/json"

# A JSON string literal (escapes included), and the brackets left once strings are blanked.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class BodyRefused(json.JSONDecodeError):
    """A body outside the bounds. A JSONDecodeError, so Powertools' validation answers 400 too."""

    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(message, "", 0)
        self.message = message
        self.details = details or {}


def nesting_depth(text: str) -> int:
    """How deep brackets nest, found without parsing (so it cannot recurse)."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub('""', text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        counts = Counter(name for name, _ in pairs)
        repeated = sorted(name for name, count in counts.items() if count > 1)
        raise BodyRefused("The body repeats a key.", {"repeated_keys": repeated[:5]})
    return value


def _bounded_number(literal: str, convert: Callable[[str], Any]) -> Any:
    if len(literal) > MAX_NUMBER_CHARS:
        raise BodyRefused(
            f"A number in the body is longer than {MAX_NUMBER_CHARS} characters.",
            {"limit_characters": MAX_NUMBER_CHARS},
        )
    return convert(literal)


def _no_constant(name: str) -> Any:
    raise BodyRefused(f"{name} is not a JSON number.")


def strict_loads(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON within bounds, or BodyRefused (or JSONDecodeError for malformed JSON)."""
    if isinstance(text, bytes):
        text = text.decode()
    if nesting_depth(text) > max_depth:
        raise BodyRefused(
            f"The body nests deeper than {max_depth} levels.", {"limit_depth": max_depth}
        )
    value = json.loads(
        text,
        object_pairs_hook=_unique_keys,
        parse_int=lambda literal: _bounded_number(literal, int),
        parse_float=lambda literal: _bounded_number(literal, float),
        parse_constant=_no_constant,
    )
    try:  # escapes can smuggle in lone surrogates, which no store or log can encode
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise BodyRefused("The body holds text that is not valid Unicode.") from None
    return value


# --- the API function -------------------------------------------------------------------------


def _raw(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _invalid(message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return _raw(400, error_body(ErrorCode.VALIDATION_ERROR, message, details))


def _is_json(event: dict[str, Any]) -> bool:
    """A body is JSON unless its Content-Type says otherwise (no Content-Type is taken as JSON)."""
    declared = (event.get("headers") or {}).get("content-type", "")
    media_type = declared.split(";", 1)[0].strip().lower()
    return media_type in ("", JSON) or media_type.endswith("+json")


def _body_text(event: dict[str, Any]) -> str:
    body = event.get("body") or ""
    # binascii.Error and UnicodeDecodeError are both ValueErrors
    return base64.b64decode(body).decode() if event.get("isBase64Encoded") else str(body)


def _body_refusal(body: str) -> dict[str, Any] | None:
    try:
        strict_loads(body)
    except BodyRefused as refused:
        return _invalid(refused.message, refused.details)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, or anything json.loads met
        problem = {"loc": ["body"], "msg": str(error)[:200], "type": "json_invalid"}
        return _invalid("The body is not valid JSON.", {"errors": [problem]})
    return None


def check_request(event: dict[str, Any]) -> dict[str, Any] | Principal | None:
    """An answer for a refused request; else the caller (None on a public route)."""
    try:
        body = _body_text(event)
    except ValueError:
        return _invalid("The body is not UTF-8 JSON.")
    if len(body.encode(errors="surrogatepass")) > MAX_BODY_BYTES:
        return _invalid(
            f"The body exceeds {MAX_BODY_BYTES} bytes.", {"limit_bytes": MAX_BODY_BYTES}
        )
    context = event.get("requestContext") or {}
    method = str((context.get("http") or {}).get("method", ""))
    decision = authorize(event, method, resolver_path(event))
    if isinstance(decision, Denial):
        return _raw(HTTP_STATUS[decision.code], error_body(decision.code, decision.message))
    if body and not _is_json(event):
        return _raw(
            415,
            error_body(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json."),
        )
    return (_body_refusal(body) if body else None) or decision


def resolver_path(event: dict[str, Any]) -> str:
    """The path as Powertools routes it: the raw path, less the stage unless it is $default."""
    path = str(event.get("rawPath") or "")
    stage = (event.get("requestContext") or {}).get("stage") or "$default"
    return path if stage == "$default" else path[len("/" + stage) :]


def authorize_resolved_route(app: Any, next_middleware: Callable[[Any], Any]) -> Any:
    """Resolver middleware: the route the resolver picked must be one the caller may use."""
    route = app.context.get("_route")
    template = re.sub(r"<(\w+)>", r"{\1}", route.path) if route else ""
    key = (route.method if route else "", template)
    if key in PUBLIC_ROUTES:
        return next_middleware(app)
    decision = authorize_scope(app.context.get("principal"), ROUTE_SCOPES.get(key))
    if isinstance(decision, Denial):
        raise api_error(decision.code, decision.message)
    return next_middleware(app)


# --- the webhooks function --------------------------------------------------------------------


def webhook_body_refusal(body: bytes) -> dict[str, Any] | None:
    """Why a webhook body is refused unread (size, nesting), or None to hand it to the
    processor's parser. Counted and scanned, not parsed: no signature can be checked yet."""
    if len(body) > WEBHOOK_MAX_BYTES:
        return {"limit_bytes": WEBHOOK_MAX_BYTES}
    if nesting_depth(body.decode(errors="replace")) > WEBHOOK_MAX_DEPTH:
        return {"limit_depth": WEBHOOK_MAX_DEPTH}
    return None
