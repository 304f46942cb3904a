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


def _named_modules(path: Path) -> set[str]:
    """String constants (docstrings aside) that name a module under services/: an import by string
    (importlib, `-m`) is still a dependency, only hidden from readers and tools."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            and "services." in node.value}


def test_common_names_no_service_even_by_string() -> None:
    offenders = [f"{p.relative_to(REPO_ROOT)}: {s!r}" for p in _files("common") for s in _named_modules(p)]
    assert not offenders, offenders


def test_services_never_import_the_operator_tools() -> None:
    """ops/all_settings.py holds every service's settings at once: a service that imported it would
    validate (and be stopped by) every other service's sections again."""
    offenders = [f"{p.relative_to(REPO_ROOT)}: {m}" for p in _files("services") for m in _imports(p)
                 if m == "ops" or m.startswith("ops.")]
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
    hidden = tmp_path / "hidden.py"
    hidden.write_text('"""Loads services.x by name."""\nimport importlib\n'
                      'def load(name):\n    return importlib.import_module(f"services.{name}.app")\n')
    assert _named_modules(hidden) == {"services."}
