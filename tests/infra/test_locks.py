"""Installs come from hashed locks that agree with the pins in requirements*.txt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.infra.conftest import REPO_ROOT

LOCKS = {
    "requirements.lock": ("requirements.txt", "requirements-dev.txt"),
    "requirements-checkov.lock": ("requirements-checkov.txt",),
    "requirements-bootstrap.lock": ("requirements-bootstrap.txt",),
}
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def locked_entries(path: Path) -> list[list[str]]:
    """Each package of a lock with its continuation lines."""
    entries: list[list[str]] = []
    for line in path.read_text().splitlines():
        if PIN.match(line):
            entries.append([line])
        elif entries and line.startswith("    --hash="):
            entries[-1].append(line)
    return entries


@pytest.mark.parametrize(("lock", "sources"), LOCKS.items())
def test_every_direct_pin_is_locked_at_its_version(lock: str, sources: tuple[str, ...]) -> None:
    locked = pins(REPO_ROOT / lock)
    wanted: dict[str, str] = {}
    for source in sources:
        wanted.update(pins(REPO_ROOT / source))

    assert {name: locked.get(name) for name in wanted} == wanted


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_package_has_a_hash(lock: str) -> None:
    entries = locked_entries(REPO_ROOT / lock)

    assert entries
    for entry in entries:
        assert len(entry) >= 2, entry[0]


def test_make_install_installs_from_the_locks_with_hashes_required() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()

    for lock in LOCKS:
        assert re.search(rf"--require-hashes -r {re.escape(lock)}", makefile), lock
    assert "-r requirements-dev.txt" not in makefile.split("\nlock:")[0]
