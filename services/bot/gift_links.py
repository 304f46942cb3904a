"""The one spelling of a gift link (t.me/<bot>?start=gift_<token>) and of its deep-link payload."""
from __future__ import annotations

from aiogram import Bot

GIFT_PREFIX = "gift_"


def gift_link_of(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={GIFT_PREFIX}{token}"


async def gift_link(bot: Bot, token: str) -> str:
    me = await bot.me()   # aiogram asks getMe once and keeps the answer
    return gift_link_of(me.username or "", token)
