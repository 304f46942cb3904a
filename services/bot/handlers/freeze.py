"""Pause and resume a paid subscription (common/shop/freeze.py): a short transaction in the bot's
own pool, then a best-effort nudge to vpn_gateway, which switches the key off (or on again) from
the activation row the transaction wrote. The user picks how long, within what is left of the
year's allowance (ATCS_FREEZE_DAYS_PER_YEAR); the pause ends by itself (the scheduler) or when
they tap Resume.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from common.db.database import Database
from common.shop.freeze import Freeze, FreezeRefusal, allowance_left, freeze, unfreeze
from common.texts import duration
from services.bot.callbacks import FreezeCb, MenuCb, Screen, SubAction, SubCb, new_nonce
from services.bot.formatting import date
from services.bot.i18n import Translator
from services.bot.middlewares.callback_answer import Answer
from services.bot.peers.shop import Peers
from services.bot.repositories.users import UserRow
from services.bot.settings import Settings
from services.bot.telegram.safe_edit import show

CHOICES = (7, 14, 30)


def router() -> Router:
    r = Router(name="freeze")
    r.callback_query.register(ask, SubCb.filter(F.action == SubAction.FREEZE))
    r.callback_query.register(chosen, FreezeCb.filter())
    r.callback_query.register(resume, SubCb.filter(F.action == SubAction.UNFREEZE))
    return r


def choices(left: timedelta) -> list[int]:
    """The lengths offered: the usual ones that fit, and whatever whole days are left, if fewer."""
    days = left.days
    offered = [d for d in CHOICES if d <= days]
    if 0 < days < CHOICES[-1] and days not in offered:
        offered.append(days)
    return offered


def refusal_text(t: Translator, refusal: FreezeRefusal) -> str:
    return {
        FreezeRefusal.NOT_PAID: t("freeze.refused_not_paid"),
        FreezeRefusal.FROZEN: t("freeze.refused_frozen"),
        FreezeRefusal.ALLOWANCE: t("freeze.refused_allowance"),
        FreezeRefusal.DISABLED: t("freeze.refused_disabled"),
    }[refusal]


def _back(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("nav.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    return kb.as_markup()


async def ask(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, db: Database, settings: Settings,
              state: FSMContext, answer: Answer) -> None:
    per_year = settings.shop.freeze_days_per_year
    if per_year <= 0:
        answer.set(t("freeze.refused_disabled"))
        return
    async with db.acquire() as conn:
        left = await allowance_left(conn, user.id, datetime.now(UTC), per_year)
    offered = choices(left)
    if not offered:
        answer.set(t("freeze.refused_allowance"), alert=True)
        return
    nonce = new_nonce()
    await state.set_state(None)
    await state.set_data({"freeze": nonce})
    kb = InlineKeyboardBuilder()
    for days in offered:
        kb.button(text=t("freeze.days_button", days=days), callback_data=FreezeCb(nonce=nonce, days=days))
    kb.button(text=t("nav.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    kb.adjust(len(offered), 1)
    text = t("freeze.choose", left=duration(left.total_seconds(), t.locale), per_year=per_year)
    await show(bot, query.from_user.id, query.message, text, kb.as_markup())


async def chosen(query: CallbackQuery, callback_data: FreezeCb, bot: Bot, user: UserRow, t: Translator,
                 db: Database, peers: Peers, settings: Settings, state: FSMContext, answer: Answer) -> None:
    data = await state.get_data()
    if data.get("freeze") != callback_data.nonce:
        answer.set(t("stale"))
        return
    async with db.transaction() as conn:
        result = await freeze(conn, user.id, callback_data.days, now=datetime.now(UTC),
                              days_per_year=settings.shop.freeze_days_per_year)
    await state.clear()
    if not isinstance(result, Freeze):
        await show(bot, query.from_user.id, query.message, refusal_text(t, result), _back(t))
        return
    await peers.nudge_activations()
    text = t("freeze.done", date=date(result.until), left=duration(result.left.total_seconds(), t.locale))
    await show(bot, query.from_user.id, query.message, text, _back(t))


async def resume(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, db: Database, peers: Peers,
                 answer: Answer) -> None:
    async with db.transaction() as conn:
        thawed = await unfreeze(conn, user.id, now=datetime.now(UTC), by="user")
    if thawed is None:
        answer.set(t("freeze.not_frozen"))
        return
    await peers.nudge_activations()
    await show(bot, query.from_user.id, query.message, t("freeze.resumed", date=date(thawed.expires_at)), _back(t))
