"""The API's OpenAPI document, generated from the code: `make openapi` writes docs/openapi.json.

Usage: python -m refund_service.api.openapi_document [PATH]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from refund_service.api.app import build_app, openapi_json
from refund_service.api.runtime import ApiRuntime

DEFAULT_PATH = Path("docs/openapi.json")


def _no_runtime() -> ApiRuntime:
    raise RuntimeError("describing the API needs no runtime")


def render() -> str:
    """The document as committed: indented, keys sorted, one trailing newline."""
    document = json.loads(openapi_json(build_app(_no_runtime)))
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
