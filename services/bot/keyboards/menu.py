"""The menu's keyboards. The two shown on nearly every screen are built once per language and kept:
a keyboard is a pure function of the language, and building one (a pydantic model per button and
its packed callback data) was a measurable share of a tap's cost (bench/bench_capacity.py). Nothing
mutates a markup once built; aiogram only serialises it."""
from __future__ import annotations

from functools import cache

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from services.bot.callbacks import LangCb, MenuCb, Screen
from services.bot.i18n import Translations, Translator


@cache  # keyed by the Translator, one per language and catalogue
def main_menu(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("menu.buy"), callback_data=MenuCb(to=Screen.BUY))
    kb.button(text=t("menu.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    kb.button(text=t("menu.trial"), callback_data=MenuCb(to=Screen.TRIAL))
    kb.button(text=t("menu.referrals"), callback_data=MenuCb(to=Screen.REFERRALS))
    kb.button(text=t("menu.balance"), callback_data=MenuCb(to=Screen.BALANCE))
    kb.button(text=t("menu.help"), callback_data=MenuCb(to=Screen.HELP))
    kb.button(text=t("menu.language"), callback_data=MenuCb(to=Screen.LANGUAGE))
    kb.adjust(1, 2, 2, 2)
    return kb.as_markup()


@cache
def back_to_menu(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("nav.menu"), callback_data=MenuCb(to=Screen.HOME))
    return kb.as_markup()


def languages(texts: Translations, t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for code in texts.locales:
        native_t = texts.get(code)  # each language is named in itself
        kb.button(text=native_t("lang.name"), callback_data=LangCb(code=code))
    kb.button(text=t("nav.menu"), callback_data=MenuCb(to=Screen.HOME))
    kb.adjust(2, 1)
    return kb.as_markup()
