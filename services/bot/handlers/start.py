"""/start (with referral deep links), the main menu and help."""
from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from services.bot.settings import Settings
from common.db.database import Database
from services.bot.callbacks import MenuCb, Screen
from services.bot.gift_links import GIFT_PREFIX
from services.bot.handlers.buy import apply_code
from services.bot.handlers.gifts import redeem_link
from services.bot.i18n import Translator
from services.bot.keyboards.menu import back_to_menu, main_menu
from services.bot.peers.shop import Peers
from services.bot.repositories import users
from services.bot.repositories.users import UserRow
from services.bot.telegram.safe_edit import show
from services.bot.typed import deep_link_payload

REFERRAL_PREFIX = "ref_"
PROMO_PREFIX = "promo_"


def router() -> Router:
    r = Router(name="start")
    r.message.register(start, CommandStart())
    r.message.register(menu_command, Command("menu"))
    r.message.register(help_command, Command("help"))
    r.callback_query.register(menu_button, MenuCb.filter(F.to == Screen.HOME))
    r.callback_query.register(help_button, MenuCb.filter(F.to == Screen.HELP))
    return r


async def start(message: Message, bot: Bot, command: CommandObject, user: UserRow, t: Translator, db: Database,
                settings: Settings, peers: Peers, state: FSMContext) -> None:
    raw = (command.args or "").strip()
    code = deep_link_payload(raw) or ""
    if user.created and code.startswith(REFERRAL_PREFIX):
        # Only a brand-new user can be invited: an existing one cannot be claimed by a link later.
        async with db.acquire() as conn:
            await users.attach_referrer(conn, user.id, code[len(REFERRAL_PREFIX):])
    await state.clear()
    if raw.startswith(GIFT_PREFIX):
        # A newcomer's account is made by this very update (the user middleware); the gift is its
        # first subscription, no trial involved. A mangled link is refused like an unknown one.
        await redeem_link(message, code[len(GIFT_PREFIX):], user, t, db, peers)
        return
    if raw.startswith(PROMO_PREFIX):
        await apply_code(bot, message.chat.id, raw[len(PROMO_PREFIX):], user, t, db, settings, state)
        return
    name = message.from_user.first_name if message.from_user else ""
    await message.answer(t("start.welcome", name=name) + "\n\n" + t("menu.title"), reply_markup=main_menu(t))


async def menu_command(message: Message, t: Translator, state: FSMContext) -> None:
    await state.clear()
    await message.answer(t("menu.title"), reply_markup=main_menu(t))


async def menu_button(query: CallbackQuery, bot: Bot, t: Translator, state: FSMContext) -> None:
    await state.clear()
    await show(bot, query.from_user.id, query.message, t("menu.title"), main_menu(t))


def _help_text(t: Translator, settings: Settings) -> str:
    return t("help.text", support=settings.shop.support_contact, pause_days=settings.shop.freeze_days_per_year)


async def help_command(message: Message, t: Translator, settings: Settings) -> None:
    await message.answer(_help_text(t, settings), reply_markup=back_to_menu(t))


async def help_button(query: CallbackQuery, bot: Bot, t: Translator, settings: Settings) -> None:
    await show(bot, query.from_user.id, query.message, _help_text(t, settings), back_to_menu(t))
