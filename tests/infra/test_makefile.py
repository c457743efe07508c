"""`make help` lists every target the Makefile declares, and deploy has no default region."""

from __future__ import annotations

import re
import subprocess

from tests.infra.conftest import REPO_ROOT

MAKEFILE = (REPO_ROOT / "Makefile").read_text()


def declared_targets() -> set[str]:
    (phony,) = re.findall(r"^\.PHONY:(.*)$", MAKEFILE, flags=re.M)
    return set(phony.split())


def test_every_declared_target_exists() -> None:
    defined = set(re.findall(r"^([a-z][\w-]*):", MAKEFILE, flags=re.M))

    assert declared_targets() <= defined


def test_help_lists_every_target() -> None:
    shown = subprocess.run(
        ["make", "-s", "--no-print-directory", "help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    listed = set(re.findall(r"^make (\w+)", shown, flags=re.M))

    assert declared_targets() - listed == set()
    assert {"install", "deploy"} <= listed


def test_no_region_is_exported_for_deploy() -> None:
    # Only synth (offline) may assume a region; deploy's preflight needs it named explicitly
    exports = re.findall(r"^(\S*:?)\s*export AWS_(?:DEFAULT_)?REGION", MAKEFILE, flags=re.M)

    assert exports == ["synth:"]
    deploy = MAKEFILE.split("\ndeploy:", 1)[1].split("\n\n", 1)[0]
    assert "stacks.preflight" in deploy.splitlines()[1]


def recipe(target: str) -> list[str]:
    body = MAKEFILE.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in body.splitlines()[1:]]


def test_unit_runs_only_the_unit_tests_and_test_runs_every_suite() -> None:
    assert recipe("unit") == ["$(BIN)/pytest tests/unit"]
    assert recipe("pytest") == ["$(BIN)/pytest"]  # testpaths: the whole tests/ tree
    (prerequisites,) = re.findall(r"^test: (.*)$", MAKEFILE, flags=re.M)
    assert prerequisites.split() == ["lint", "typecheck", "pytest", "checkov"]
