"""The bot's texts: the one catalogue (common/texts), loaded once at start; code names keys, `t("menu.buy")`.

Every text the bot sends goes with parse_mode=HTML, so its translators escape parameters."""
from __future__ import annotations

from common.texts import DEFAULT_LOCALE, Catalogue, Raw, Translator

__all__ = ["DEFAULT_LOCALE", "Raw", "Translations", "Translator"]


class Translations(Catalogue):
    def __init__(self) -> None:
        super().__init__(html=True)
