"""Where the checkout is: the default home of var/ (database, logs, exports, backups)."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
