"""The local stack: the service's own handlers on one machine (SPEC section 7)."""

import sys
from pathlib import Path

_RUNTIME = str(Path(__file__).resolve().parents[1] / "runtime")
if _RUNTIME not in sys.path:  # the Lambda asset root, importable as it is in AWS
    sys.path.insert(0, _RUNTIME)
