"""The catalogue: every user-facing text, read from gettext files with Babel once per process.

messages.pot is the English source: msgctxt is the key code names (`t("menu.buy")`), msgid the
English text. <lang>/LC_MESSAGES/messages.po translates it. A text that counts something has a
msgid_plural and an extracted comment `#. count: days` naming the parameter that picks the form;
the form follows the language's plural rule (the .po's Plural-Forms header, written by Babel from
CLDR: 1 день, 2 дня, 5 дней). A translation left out or marked fuzzy falls back to the English.

Parameters are str.format fields. A catalogue made with html=True escapes them (the bot sends every
text with parse_mode=HTML, and a user's name with a "<" in it must never break a message) unless the
caller wraps a value it rendered itself in Raw.
"""
from __future__ import annotations

import gettext
import html
import io
import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)
TEXTS_DIR = Path(__file__).resolve().parent
DOMAIN = "messages"
DEFAULT_LOCALE = "en"
COUNT_NOTE = re.compile(r"count: (\w+)")


class Raw(str):
    """A parameter that is already HTML (a <code> block we built): inserted as is."""


@dataclass(frozen=True)
class Source:
    """A key's English text: one form, or (with `count`, the parameter that picks it) two."""
    singular: str
    plural: str | None = None
    count: str | None = None


@dataclass(frozen=True)
class _Loaded:
    sources: dict[str, Source]
    languages: dict[str, gettext.NullTranslations]
    translated: dict[str, frozenset[str]]


class Catalogue:
    def __init__(self, directory: Path = TEXTS_DIR, *, html: bool = False) -> None:
        loaded = _load(directory.resolve())
        self._sources = loaded.sources
        self._languages = loaded.languages
        self._translated = loaded.translated
        self._translators = {code: Translator(code, self, html) for code in self._languages}

    @property
    def locales(self) -> list[str]:
        return list(self._languages)

    def keys(self, locale: str) -> set[str]:
        """The keys this language has a text for (its own, not the English fallback)."""
        return set(self._translated[locale])

    def source(self, key: str) -> Source | None:
        return self._sources.get(key)

    def resolve(self, language_code: str | None) -> str:
        """A Telegram language_code ("ru", "en-US", "pt-br") to a locale we have."""
        if language_code:
            base = language_code.lower().replace("_", "-").split("-")[0]
            if base in self._languages:
                return base
        return DEFAULT_LOCALE

    def get(self, locale: str | None) -> Translator:
        return self._translators.get(locale or DEFAULT_LOCALE) or self._translators[DEFAULT_LOCALE]

    def template(self, locale: str, key: str, params: dict[str, Any]) -> str | None:
        """The text of `key` in `locale` before its parameters are filled in; None for an unknown key."""
        source = self._sources.get(key)
        if source is None:
            return None
        language = self._languages.get(locale) or self._languages[DEFAULT_LOCALE]
        if source.plural is None:
            return language.pgettext(key, source.singular)
        return language.npgettext(key, source.singular, source.plural, _count(params.get(source.count)))


class Translator:
    """One language's texts: `t("sub.expires", date=..., days=3)`."""

    def __init__(self, locale: str, catalogue: Catalogue, html: bool) -> None:
        self.locale = locale
        self._catalogue = catalogue
        self._escape = _escape_html if html else _as_is

    def __call__(self, key: str, /, **params: Any) -> str:
        text = self._catalogue.template(self.locale, key, params)
        if text is None:
            # The catalogue tests catch this before it ships; never show a user a crash.
            log.error("missing translation", extra={"key": key, "locale": self.locale})
            return key
        if not params:
            return text
        return text.format_map(_Params({name: self._escape(value) for name, value in params.items()}))


class _Params(dict):
    # A notification whose writer left out a parameter still renders (with a dash), never crashes.
    def __missing__(self, key: str) -> str:
        log.warning("translation parameter missing", extra={"parameter": key})
        return "—"


def _escape_html(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Raw):
        return html.escape(value, quote=False)
    return value


def _as_is(value: Any) -> Any:
    return value


def _count(value: Any) -> int:
    if isinstance(value, int):
        return abs(value)
    log.warning("plural text without its count", extra={"count": repr(value)[:40]})
    return 0


@cache
def _load(directory: Path) -> _Loaded:
    """Parsed once per process however many catalogues are made: no file is read per message."""
    with open(directory / f"{DOMAIN}.pot", "rb") as file:
        template = read_po(file, domain=DOMAIN)
    sources: dict[str, Source] = {}
    for message in template:
        if not message.id:
            continue  # the header
        if not message.context or message.context in sources:
            raise RuntimeError(f"{DOMAIN}.pot: every text needs its own key (msgctxt): {message.id!r}")
        if isinstance(message.id, tuple):
            notes = [found.group(1) for note in message.auto_comments if (found := COUNT_NOTE.fullmatch(note))]
            if len(notes) != 1:
                raise RuntimeError(f"{DOMAIN}.pot: plural text {message.context} needs one '#. count: <parameter>'")
            sources[message.context] = Source(message.id[0], message.id[1], notes[0])
        else:
            sources[message.context] = Source(message.id)
    languages: dict[str, gettext.NullTranslations] = {DEFAULT_LOCALE: gettext.NullTranslations()}
    translated = {DEFAULT_LOCALE: frozenset(sources)}
    for path in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        code = path.parent.parent.name
        with open(path, "rb") as file:
            catalog = read_po(file, locale=code, domain=DOMAIN)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)  # fuzzy entries left out: they fall back to English
        compiled.seek(0)
        languages[code] = gettext.GNUTranslations(compiled)
        translated[code] = frozenset(
            m.context for m in catalog if m.id and m.context and not m.fuzzy
            and all(m.string if isinstance(m.string, tuple) else (m.string,)))
    return _Loaded(sources, languages, translated)
