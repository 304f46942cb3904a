"""The baseline of bench_capacity.py: the least a bot can do per /start and still be a shop bot.

One process, aiogram's polling, one upsert of the user row, one reply with a menu. A tap on Help or
on Back (the menu tap of the capacity bench) upserts the user, edits the message into the other
screen and answers the callback query: what the full bot does for the same taps.
No middlewares, no FSM, no i18n: what the full bot's per-update cost is compared against.

    python bench/minimal_bot.py --api URL --token TOKEN --database URL

`gc.freeze()` after start-up, as the full bot does, so that both pay the same for the collector.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging

import asyncpg
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

MENU = InlineKeyboardMarkup(inline_keyboard=[
    [InlineKeyboardButton(text="🎁 Free trial", callback_data="m:trial"),
     InlineKeyboardButton(text="🛒 Buy", callback_data="m:buy")],
    [InlineKeyboardButton(text="🔑 My subscription", callback_data="m:sub"),
     InlineKeyboardButton(text="💰 Balance", callback_data="m:balance")],
    [InlineKeyboardButton(text="❓ Help", callback_data="m:help")],
])
BACK = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="⬅️ Menu", callback_data="m:home")]])
HELP = "Questions? Write to @support. Pick a plan under Buy, or take the free trial first."
UPSERT = """INSERT INTO users (id, username, first_name, language, referral_code)
            VALUES ($1::bigint, $2, $3, $4, 'm' || $1::bigint::text)
            ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, first_name = EXCLUDED.first_name,
                                           last_seen_at = now()"""


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    pool = await asyncpg.create_pool(args.database, min_size=2, max_size=10)
    bot = Bot(args.token, session=AiohttpSession(api=TelegramAPIServer.from_base(args.api)))
    dp = Dispatcher()

    async def upsert(user) -> None:
        async with pool.acquire() as conn:
            await conn.execute(UPSERT, user.id, user.username, user.first_name or "", user.language_code or "en")

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        await upsert(message.from_user)
        await message.answer(f"Welcome, {message.from_user.first_name}! Pick what you need:", reply_markup=MENU)

    @dp.callback_query()
    async def tap(query: CallbackQuery) -> None:
        await upsert(query.from_user)
        if query.data == "m:help":
            await query.message.edit_text(HELP, reply_markup=BACK)
        else:
            await query.message.edit_text("Main menu:", reply_markup=MENU)
        await query.answer()

    gc.freeze()
    await dp.start_polling(bot, handle_signals=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--database", required=True)
    asyncio.run(main(parser.parse_args()))
