"""The README stays true: its configuration table is exactly what the settings classes define."""
from __future__ import annotations

import os

import pytest

from common.paths import REPO_ROOT
from ops.config_doc import render_readme


def test_readme_config_table_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ATCS_") or key == "APP_ENV":
            monkeypatch.delenv(key)
    readme = (REPO_ROOT / "README.md").read_text()
    assert render_readme(readme) == readme, "run: .venv/bin/python -m ops.config_doc"


def test_readme_names_the_two_commands() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert "bash scripts/run.sh" in readme and "bash scripts/test.sh" in readme
    assert "scripts/test.sh" in (REPO_ROOT / ".ci" / "run").read_text()


def test_readme_gives_the_command_of_every_benchmark() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
    for script in sorted((REPO_ROOT / "bench").glob("bench_*.py")):
        assert f".venv/bin/python bench/{script.name}" in section, f"README's Benchmarks section lacks {script.name}"
