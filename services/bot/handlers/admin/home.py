"""/admin and the console's home screen."""
from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from services.bot.callbacks import AdminCb, AdminScreen
from services.bot.i18n import Translator
from services.bot.keyboards import admin as kb
from services.bot.telegram.safe_edit import show


def router() -> Router:
    r = Router(name="admin.home")
    r.message.register(admin_command, Command("admin"))
    r.callback_query.register(home_button, AdminCb.filter(F.to == AdminScreen.HOME))
    return r


async def admin_command(message: Message, t: Translator, state: FSMContext) -> None:
    await state.clear()
    await message.answer(t("admin.home"), reply_markup=kb.home(t))


async def home_button(query: CallbackQuery, bot: Bot, t: Translator, state: FSMContext) -> None:
    await state.clear()
    await show(bot, query.from_user.id, query.message, t("admin.home"), kb.home(t))
