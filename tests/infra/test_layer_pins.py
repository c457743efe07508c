"""What the functions import from the Powertools layer is pinned to the layer's versions, and
the venv the tests run in holds exactly those (docs/decisions/0018-layer-pins.md)."""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stacks.constructs.bundling import BUNDLED_DISTRIBUTIONS
from tests.infra.conftest import REPO_ROOT

LAYER_BLOCK_START = "# Shipped by the Powertools"
LAYER_BLOCK_END = "# End of the layer's packages."
# What the runtime imports from the layer; each one's dependencies are found from metadata.
LAYER_ROOTS = ("pydantic", "aws-xray-sdk", "cryptography", "aws-lambda-powertools")
# The Lambda runtime provides these; the layer build deletes them (boto3's dependency tree).
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)


def layer_pins() -> dict[str, str]:
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(LAYER_BLOCK_START))
    end = lines.index(LAYER_BLOCK_END)
    pins = {}
    for line in lines[start + 1 : end]:
        if line.startswith("#") or not line.strip():
            continue
        name, _, version = line.partition("==")
        pins[canonicalize_name(name)] = version
    return pins


def installed_dependencies(root: str) -> set[str]:
    """The distribution and everything it requires on this platform, without extras."""
    found: set[str] = set()
    waiting = [canonicalize_name(root)]
    while waiting:
        name = waiting.pop()
        if name in found:
            continue
        found.add(name)
        for text in metadata.requires(name) or ():
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                waiting.append(canonicalize_name(requirement.name))
    return found


def test_the_venv_runs_the_layers_versions() -> None:
    pins = layer_pins()

    assert {name: metadata.version(name) for name in pins} == pins


def test_every_layer_package_the_runtime_reaches_is_pinned() -> None:
    reached = set().union(*(installed_dependencies(root) for root in LAYER_ROOTS))
    expected = reached - RUNTIME_PROVIDED - {"aws-lambda-powertools"}

    assert expected == set(layer_pins())


def test_the_pins_include_pydantic_and_its_core() -> None:
    assert {"pydantic", "pydantic-core", "aws-xray-sdk", "cryptography"} <= set(layer_pins())


def test_nothing_the_layer_ships_is_also_bundled() -> None:
    bundled = {canonicalize_name(name) for name in BUNDLED_DISTRIBUTIONS}

    assert not bundled & set(layer_pins())
