"""Which client app opens the keys of each panel backend (instructions name it)."""
from __future__ import annotations

APPS = {"outline": "Outline", "remnawave": "Hiddify"}


def app_for(backend: str | None) -> str:
    return APPS.get(backend or "", "Outline")
