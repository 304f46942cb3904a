"""Texts live in locales/<code>.json (flat keys); code only names keys: `t("menu.buy")`."""
from services.bot.i18n.translator import DEFAULT_LOCALE, Raw, Translations, Translator

__all__ = ["DEFAULT_LOCALE", "Raw", "Translations", "Translator"]
