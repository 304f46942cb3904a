"""The free trial: once per Telegram user, granted in one transaction, the key issued by vpn_gateway."""
from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from services.bot.settings import Settings
from common.db.database import Database
from common.shop.access import grant_days
from services.bot.callbacks import MenuCb, Screen
from services.bot.formatting import date
from services.bot.i18n import Translator
from services.bot.keyboards.menu import back_to_menu
from services.bot.middlewares.callback_answer import Answer
from services.bot.peers.shop import Peers
from services.bot.repositories import users
from services.bot.repositories.users import UserRow
from services.bot.telegram.safe_edit import show

GB = 1024 ** 3


def router() -> Router:
    r = Router(name="trial")
    r.message.register(trial_command, Command("trial"))
    r.callback_query.register(trial_button, MenuCb.filter(F.to == Screen.TRIAL))
    return r


async def trial_command(message: Message, bot: Bot, user: UserRow, t: Translator, db: Database,
                        settings: Settings, peers: Peers) -> None:
    await take_trial(bot, message.chat.id, None, user, t, db, settings, peers)


async def trial_button(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, db: Database,
                       settings: Settings, peers: Peers, answer: Answer) -> None:
    await answer.now()  # the nudge below may take its whole deadline
    await take_trial(bot, query.from_user.id, query.message, user, t, db, settings, peers)


async def take_trial(bot: Bot, chat_id: int, origin, user: UserRow, t: Translator, db: Database,
                     settings: Settings, peers: Peers) -> None:
    days = settings.shop.trial_days
    if days <= 0:
        await show(bot, chat_id, origin, t("trial.disabled"), back_to_menu(t))
        return
    limit_gb = settings.shop.trial_traffic_gb
    async with db.transaction() as conn:
        if await users.claim_trial(conn, user.id) is None:
            used_at = await users.trial_used_at(conn, user.id)
            granted = None
        else:
            granted = await grant_days(conn, user.id, days, key=f"trial:{user.id}", is_trial=True,
                                       traffic_limit_bytes=limit_gb * GB, reason="trial",
                                       device_limit=settings.shop.trial_devices)
    if granted is None:
        await show(bot, chat_id, origin, t("trial.already_used", date=date(used_at)), back_to_menu(t))
        return
    # Committed: the activation row is the truth; the nudge only makes vpn_gateway look now.
    nudged = await peers.nudge_activations()
    text = t("trial.preparing", days=days) if nudged else t("trial.queued", days=days)
    await show(bot, chat_id, origin, text, back_to_menu(t))
