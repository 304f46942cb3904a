"""Services meet only over ZeroMQ and the database: no service imports another, common imports
no service, and nothing that runs in production imports the sandbox."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from common.paths import REPO_ROOT

PRODUCTION = ["common", "services", "ops"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _files(folder: str) -> list[Path]:
    return sorted((REPO_ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", PRODUCTION)
def test_production_code_never_imports_sandbox(folder: str) -> None:
    offenders = [f"{p.relative_to(REPO_ROOT)}: {m}" for p in _files(folder) for m in _imports(p)
                 if m == "sandbox" or m.startswith("sandbox.")]
    assert not offenders, offenders


def test_common_imports_no_service() -> None:
    offenders = [f"{p.relative_to(REPO_ROOT)}: {m}" for p in _files("common") for m in _imports(p)
                 if m.startswith("services") or m.startswith("ops")]
    assert not offenders, offenders


def test_services_do_not_import_each_other() -> None:
    offenders = []
    for service_dir in sorted(p for p in (REPO_ROOT / "services").iterdir() if p.is_dir() and p.name != "__pycache__"):
        for path in service_dir.rglob("*.py"):
            for module in _imports(path):
                parts = module.split(".")
                if parts[0] == "services" and len(parts) > 1 and parts[1] != service_dir.name:
                    offenders.append(f"{path.relative_to(REPO_ROOT)}: {module}")
    assert not offenders, offenders


def test_the_boundary_check_sees_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from sandbox.telegram import TelegramStandIn\nimport sandbox\n")
    assert {"sandbox.telegram", "sandbox"} <= _imports(bad)
