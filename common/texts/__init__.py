"""Every user-facing text of every service, and how money and time read in them.

One gettext catalogue (messages.pot: English, keyed by msgctxt; <lang>/LC_MESSAGES/messages.po),
read with Babel once per process. Code names a text by key: `catalogue.get("ru")("menu.buy")`, or
`text(locale, key, ...)` for a plain-text message (no HTML escaping). Adding a text: add it to
messages.pot and to every .po (`pybabel update -i common/texts/messages.pot -d common/texts`
marks what changed as fuzzy for the translator); tests/foundation/test_texts.py checks both.
"""
from __future__ import annotations

from typing import Any

from common.texts.catalogue import DEFAULT_LOCALE, TEXTS_DIR, Catalogue, Raw, Source, Translator
from common.texts.formats import duration, money

__all__ = ["DEFAULT_LOCALE", "TEXTS_DIR", "Catalogue", "Raw", "Source", "Translator", "duration", "money", "text"]


# Read at import, before any event loop runs (the files are parsed once per process, see _load):
# a broken .po stops the service at start, not at its first message.
_PLAIN = Catalogue()


def text(locale: str, key: str, /, **params: Any) -> str:
    """A text for a message sent without parse_mode, a chart or a provider's page: parameters as they are."""
    return _PLAIN.get(locale)(key, **params)
