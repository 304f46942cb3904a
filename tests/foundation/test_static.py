"""Names that do not exist fail here, not in production on the one path no test takes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from common.paths import REPO_ROOT

CHECKED = ("common", "services", "ops", "sandbox", "bench", "tests")


def test_no_undefined_names_or_unused_imports() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "--no-cache", "--select", "F", "--output-format", "concise",
                             *CHECKED], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
