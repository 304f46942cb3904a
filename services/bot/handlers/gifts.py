"""Gifts: opening a gift link (/start gift_<token>) and the giver's list (/gifts, "My gifts").

Redeeming is one short transaction in the bot (services/bot/repositories/gifts.py: the link's
compare-and-set, the days with their activation row, the giver's notice); vpn_gateway is nudged
after the commit, as for a trial."""
from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from common.db.database import Database
from services.bot.callbacks import MenuCb, Screen
from services.bot.formatting import date
from services.bot.gift_links import gift_link
from services.bot.i18n import Translator
from services.bot.keyboards.menu import back_to_menu, main_menu
from services.bot.peers.shop import Peers
from services.bot.repositories import gifts
from services.bot.repositories.gifts import GiftRefusal, GiftRow
from services.bot.repositories.users import UserRow
from services.bot.telegram.safe_edit import show


def router() -> Router:
    r = Router(name="gifts")
    r.message.register(gifts_command, Command("gifts"))
    r.callback_query.register(gifts_button, MenuCb.filter(F.to == Screen.GIFTS))
    return r


async def redeem_link(message: Message, token: str, user: UserRow, t: Translator, db: Database,
                      peers: Peers) -> None:
    name = (message.from_user.first_name if message.from_user else "")[:64] or "—"
    async with db.transaction() as conn:
        outcome = await gifts.redeem(conn, token, user.id, name)
    if isinstance(outcome, GiftRefusal):
        await message.answer(refusal_text(t, outcome), reply_markup=main_menu(t))
        return
    await peers.nudge_activations()   # committed: the activation row is the truth, this only says "look now"
    await message.answer(t("gift.received", days=outcome.days, date=date(outcome.expires_at)),
                         reply_markup=main_menu(t))


def refusal_text(t: Translator, refusal: GiftRefusal) -> str:
    return {
        GiftRefusal.UNKNOWN: t("gift.refused_unknown"),
        GiftRefusal.OWN: t("gift.refused_own"),
        GiftRefusal.REDEEMED: t("gift.refused_redeemed"),
        GiftRefusal.EXPIRED: t("gift.refused_expired"),
        GiftRefusal.REFUNDED: t("gift.refused_refunded"),
    }[refusal]


async def gifts_command(message: Message, bot: Bot, user: UserRow, t: Translator, db: Database) -> None:
    await show(bot, message.chat.id, None, await _list(bot, user.id, t, db), back_to_menu(t))


async def gifts_button(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, db: Database) -> None:
    await show(bot, query.from_user.id, query.message, await _list(bot, user.id, t, db), back_to_menu(t))


async def _list(bot: Bot, user_id: int, t: Translator, db: Database) -> str:
    async with db.acquire() as conn:
        rows = await gifts.of_giver(conn, user_id)
    if not rows:
        return t("gifts.title") + "\n\n" + t("gifts.none")
    return t("gifts.title") + "\n\n" + "\n".join([await _line(bot, t, row) for row in rows])


async def _line(bot: Bot, t: Translator, row: GiftRow) -> str:
    if row.usable:
        return t("gifts.open_line", days=row.days, date=date(row.valid_until), link=await gift_link(bot, row.token))
    if row.state == "redeemed":
        return t("gifts.redeemed_line", days=row.days, date=date(row.redeemed_at))
    if row.state == "refunded":
        return t("gifts.refunded_line", days=row.days)
    return t("gifts.expired_line", days=row.days, date=date(row.valid_until))
