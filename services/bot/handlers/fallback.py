"""What no other router took: an out-of-date or tampered button is refused without any change;
a stray message gets the menu."""
from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from services.bot.i18n import Translator
from services.bot.keyboards.menu import main_menu
from services.bot.middlewares.callback_answer import Answer


def router() -> Router:
    r = Router(name="fallback")
    r.callback_query.register(unknown_button)
    r.message.register(unknown_message, F.text)
    return r


async def unknown_button(query: CallbackQuery, t: Translator, answer: Answer) -> None:
    answer.set(t("stale"))


async def unknown_message(message: Message, t: Translator) -> None:
    await message.answer(t("fallback.text"), reply_markup=main_menu(t))
