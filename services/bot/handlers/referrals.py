"""Referrals: the personal link, how many people came through it, bonus days earned.

The bonus itself is credited by payments, once per invitee (referral_bonuses' primary key), in
the transaction that settles the invitee's first payment.
"""
from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from services.bot.settings import Settings
from common.db.database import Database
from services.bot.callbacks import MenuCb, Screen
from services.bot.handlers.start import REFERRAL_PREFIX
from services.bot.i18n import Translator
from services.bot.keyboards.menu import back_to_menu
from services.bot.repositories import users
from services.bot.repositories.users import UserRow
from services.bot.telegram.safe_edit import show


def router() -> Router:
    r = Router(name="referrals")
    r.message.register(referrals_command, Command("referrals"))
    r.callback_query.register(referrals_button, MenuCb.filter(F.to == Screen.REFERRALS))
    return r


async def _text(bot: Bot, user: UserRow, t: Translator, db: Database, settings: Settings) -> str:
    async with db.acquire() as conn:
        stats = await users.referral_stats(conn, user.id)
    me = await bot.me()  # cached by aiogram after the first call (polling makes it at start)
    link = f"https://t.me/{me.username}?start={REFERRAL_PREFIX}{stats.code}"
    return t("ref.text", link=link, invited=stats.invited, paid=stats.paid, days=stats.bonus_days,
             bonus=settings.shop.referral_bonus_days)


async def referrals_command(message: Message, bot: Bot, user: UserRow, t: Translator, db: Database,
                            settings: Settings) -> None:
    await message.answer(await _text(bot, user, t, db, settings), reply_markup=back_to_menu(t))


async def referrals_button(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, db: Database,
                           settings: Settings) -> None:
    await show(bot, query.from_user.id, query.message, await _text(bot, user, t, db, settings), back_to_menu(t))
