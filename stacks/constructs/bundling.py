"""The functions' code asset: runtime/ plus the two pure-Python packages the layer lacks.

Bundled on the synth machine without Docker (docs/decisions/0003-runtime-bundling.md): the
files of each distribution are copied as installed in the synth venv, listed by its own RECORD
through importlib.metadata. Only pure Python can be copied across platforms this way, so any
compiled extension stops the synth instead of shipping a binary built for the wrong machine.
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path, PurePosixPath

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from stacks.config import LAMBDA_RUNTIME

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "runtime"
# Imported by the runtime and not in the Powertools layer (requirements.txt pins them).
BUNDLED_DISTRIBUTIONS = ("iso4217", "currencyconverter")
COMPILED_SUFFIXES = frozenset({".so", ".pyd", ".dylib", ".dll"})
_SKIPPED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache"})


class CompiledExtensionError(RuntimeError):
    """A file that must be built per platform, which local bundling cannot do."""


def refuse_compiled(path: PurePosixPath) -> None:
    if path.suffix in COMPILED_SUFFIXES:
        raise CompiledExtensionError(
            f"{path} is a compiled extension; the asset is bundled without Docker and must "
            "stay pure Python (take the package from a layer instead)"
        )


def _is_bundled(path: PurePosixPath) -> bool:
    """Files inside site-packages; not caches, and not scripts installed outside it (`../`)."""
    return (
        path.parts[0] != ".."
        and not _SKIPPED_PARTS.intersection(path.parts)
        and path.suffix not in (".pyc", ".pyo")
    )


def distribution_files(name: str) -> list[tuple[Path, PurePosixPath]]:
    """(installed file, path inside the asset) for every file the distribution installed."""
    distribution = metadata.distribution(name)
    if distribution.files is None:
        raise RuntimeError(f"{name} has no RECORD; reinstall it with pip or uv")
    selected = []
    for file in distribution.files:
        relative = PurePosixPath(file.as_posix())
        if _is_bundled(relative):
            refuse_compiled(relative)
            selected.append((Path(str(file.locate())), relative))
    return selected


def runtime_files(runtime_dir: Path = RUNTIME_DIR) -> list[tuple[Path, PurePosixPath]]:
    selected = []
    for path in sorted(runtime_dir.rglob("*")):
        relative = PurePosixPath(path.relative_to(runtime_dir).as_posix())
        if path.is_file() and _is_bundled(relative):
            refuse_compiled(relative)
            selected.append((path, relative))
    return selected


def bundle(output_dir: Path) -> None:
    files = runtime_files()
    for name in BUNDLED_DISTRIBUTIONS:
        files += distribution_files(name)
    for source, relative in files:
        target = output_dir.joinpath(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


@jsii.implements(ILocalBundling)
class LocalRuntimeBundling:
    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: object) -> bool:
        bundle(Path(output_dir))
        return True


def runtime_code() -> lambda_.Code:
    """One asset shared by every function; its hash is taken from the bundled output."""
    return lambda_.Code.from_asset(
        str(RUNTIME_DIR),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Never started: local bundling always succeeds or stops the synth.
            image=LAMBDA_RUNTIME.bundling_image,
            local=LocalRuntimeBundling(),
        ),
    )
