"""The domain is pure: no AWS SDK, no network, nothing from the service's outer layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[3] / "runtime" / "refund_service" / "domain"
DOMAIN_PACKAGE = "refund_service.domain"
FORBIDDEN = frozenset(
    {
        "boto3",
        "botocore",
        "urllib",
        "urllib3",
        "http",
        "socket",
        "requests",
        "aws_lambda_powertools",
    }
)


def _is_inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def forbidden_imports(source: str, module_name: str) -> list[str]:
    """'module: import' for every import the rule refuses, including those inside functions."""
    package = module_name.rpartition(".")[0]
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            targets = [target]
        else:
            continue
        for target in targets:
            top = target.split(".")[0]
            if top in FORBIDDEN or (
                top == "refund_service" and not _is_inside(target, DOMAIN_PACKAGE)
            ):
                problems.append(f"{module_name}: import {target} (line {node.lineno})")
    return problems


def domain_modules() -> list[Path]:
    return sorted(DOMAIN.rglob("*.py"))


def test_the_domain_modules_are_found() -> None:
    names = {p.name for p in domain_modules()}
    assert {"money.py", "ledger.py", "summary.py", "allocation.py", "audit.py"} <= names


@pytest.mark.parametrize("path", domain_modules(), ids=lambda p: p.name)
def test_domain_module_imports_nothing_outside_the_domain(path: Path) -> None:
    relative = path.relative_to(DOMAIN.parent.parent).with_suffix("")
    module_name = ".".join(relative.parts)
    problems = forbidden_imports(path.read_text(encoding="utf-8"), module_name)
    assert not problems, "forbidden imports in the domain:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "import boto3",
        "import botocore.exceptions",
        "from urllib.request import urlopen",
        "import http.client",
        "import socket",
        "import requests",
        "from aws_lambda_powertools import Logger",
        "from refund_service.storage import schema",
        "from refund_service import settings",
        "import refund_service.adapters.ecb_rates",
        "from .. import settings",
        "from ..storage.schema import x",
        "def f():\n    import boto3\n",
    ],
)
def test_the_rule_catches_each_kind_of_forbidden_import(source: str) -> None:
    problems = forbidden_imports(source, "refund_service.domain.example")
    assert len(problems) == 1
    assert problems[0].startswith("refund_service.domain.example: import ")


@pytest.mark.parametrize(
    "source",
    [
        "from refund_service.domain.money import round_half_even",
        "import refund_service.domain.ledger",
        "from . import money",
        "from .errors import DomainError",
        "from iso4217 import Currency",
        "from decimal import Decimal",
        "import hashlib, json",
    ],
)
def test_the_rule_allows_the_domain_and_the_standard_library(source: str) -> None:
    assert forbidden_imports(source, "refund_service.domain.example") == []
