"""The API's OpenAPI document, generated from the code: `make openapi` writes docs/openapi.json.

Usage: python -m refund_service.api.openapi_document [PATH]

Powertools' OpenAPI models (`openapi.models`, for the bearer scheme) are imported only here, when
the document is built: a cold start that serves no document does not pay for them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from refund_service.api.routing import SECURITY_SCHEME

TITLE = "Refund service API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Refunds for captured card payments: an append-only double-entry ledger, "
    "an audit trail, idempotent requests."
)
DEFAULT_PATH = Path("docs/openapi.json")


def openapi_json(app: APIGatewayHttpResolver) -> str:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer  # noqa: PLC0415

    return app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes={SECURITY_SCHEME: HTTPBearer(bearerFormat="JWT")},
    )


def render() -> str:
    """The document as committed: indented, keys sorted, one trailing newline."""
    from refund_service.api.app import build_app, describing_only  # noqa: PLC0415

    document = json.loads(openapi_json(build_app(describing_only)))
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
