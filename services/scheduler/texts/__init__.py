"""The texts the scheduler writes to admins (progress messages, captions), from one JSON file
per language in this folder, read once at import (before the event loop runs). Users' texts are
the bot's; these are admin-only."""
from __future__ import annotations

import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
DEFAULT = "en"
_CATALOGS: dict[str, dict[str, str]] = {
    path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(FOLDER.glob("*.json"))}


def text(locale: str, key: str, **values: object) -> str:
    template = _CATALOGS.get(locale, {}).get(key) or _CATALOGS[DEFAULT][key]
    return template.format(**values)


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
