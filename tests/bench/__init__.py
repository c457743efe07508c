"""Benchmarks, fuzzing and stress runs against the local stack (`make bench | fuzz | stress`).

Every run is bounded in count and time and talks to loopback only. Timings are compared as
ratios measured in the same run, never against fixed numbers.
"""

import sys
from pathlib import Path

_RUNTIME = str(Path(__file__).resolve().parents[2] / "runtime")
if _RUNTIME not in sys.path:  # run as `python -m tests.bench...`: the Lambda asset root
    sys.path.insert(0, _RUNTIME)
