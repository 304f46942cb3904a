"""Translations loaded once at start; a Translator renders one locale's texts.

Every text is sent with parse_mode=HTML, so parameters are escaped unless the caller wraps a
value it rendered itself in `Raw` (a user's name with a "<" in it must never break a message).
"""
from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DEFAULT_LOCALE = "en"


class Raw(str):
    """A parameter that is already HTML (a <code> block we built): inserted as is."""


class Translator:
    def __init__(self, locale: str, texts: dict[str, str], fallback: dict[str, str]) -> None:
        self.locale = locale
        self._texts = texts
        self._fallback = fallback

    def __call__(self, key: str, /, **params: Any) -> str:
        text = self._texts.get(key)
        if text is None:
            text = self._fallback.get(key)
            if text is None:
                # The translation-keys test catches this before it ships; never show a user a crash.
                log.error("missing translation", extra={"key": key, "locale": self.locale})
                return key
        if not params:
            return text
        return text.format_map(_Params({name: _escape(value) for name, value in params.items()}))


class _Params(dict):
    # A notification whose writer left out a parameter still renders (with a dash), never crashes.
    def __missing__(self, key: str) -> str:
        log.warning("translation parameter missing", extra={"parameter": key})
        return "—"


def _escape(value: Any) -> Any:
    if isinstance(value, Raw):
        return value
    if isinstance(value, str):
        return html.escape(value, quote=False)
    return value


class Translations:
    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        self._locales: dict[str, dict[str, str]] = {}
        for path in sorted(directory.glob("*.json")):
            self._locales[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        if DEFAULT_LOCALE not in self._locales:
            raise RuntimeError(f"no {DEFAULT_LOCALE}.json in {directory}")
        self._translators = {code: Translator(code, texts, self._locales[DEFAULT_LOCALE])
                             for code, texts in self._locales.items()}

    @property
    def locales(self) -> list[str]:
        return list(self._locales)

    def keys(self, locale: str) -> set[str]:
        return set(self._locales[locale])

    def resolve(self, language_code: str | None) -> str:
        """A Telegram language_code ("ru", "en-US", "pt-br") to a locale we have."""
        if language_code:
            base = language_code.lower().replace("_", "-").split("-")[0]
            if base in self._locales:
                return base
        return DEFAULT_LOCALE

    def get(self, locale: str | None) -> Translator:
        return self._translators.get(locale or DEFAULT_LOCALE) or self._translators[DEFAULT_LOCALE]
