"""Choosing the language (first taken from Telegram's language_code, then the user's choice)."""
from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from common.db.database import Database
from services.bot.callbacks import LangCb, MenuCb, Screen
from services.bot.i18n import Translations, Translator
from services.bot.keyboards.menu import languages, main_menu
from services.bot.middlewares.callback_answer import Answer
from services.bot.repositories import users
from services.bot.repositories.users import UserRow
from services.bot.telegram.safe_edit import show


def router() -> Router:
    r = Router(name="language")
    r.message.register(language_command, Command("language"))
    r.callback_query.register(language_button, MenuCb.filter(F.to == Screen.LANGUAGE))
    r.callback_query.register(choose, LangCb.filter())
    return r


async def language_command(message: Message, t: Translator, texts: Translations) -> None:
    await message.answer(t("lang.choose"), reply_markup=languages(texts, t))


async def language_button(query: CallbackQuery, bot: Bot, t: Translator, texts: Translations) -> None:
    await show(bot, query.from_user.id, query.message, t("lang.choose"), languages(texts, t))


async def choose(query: CallbackQuery, callback_data: LangCb, bot: Bot, user: UserRow, t: Translator,
                 texts: Translations, db: Database, answer: Answer) -> None:
    if callback_data.code not in texts.locales:
        answer.set(t("stale"))
        return
    async with db.acquire() as conn:
        await users.set_language(conn, user.id, callback_data.code)
    new_t = texts.get(callback_data.code)
    answer.set(new_t("lang.changed"))
    await show(bot, query.from_user.id, query.message, new_t("menu.title"), main_menu(new_t))
