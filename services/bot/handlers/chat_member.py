"""A user blocking (or unblocking) the bot: remembered so broadcasts skip them."""
from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import KICKED, MEMBER, ChatMemberUpdatedFilter
from aiogram.types import ChatMemberUpdated

from common.db.database import Database
from services.bot.repositories import users


def router() -> Router:
    r = Router(name="chat_member")
    r.my_chat_member.filter(F.chat.type == ChatType.PRIVATE)
    r.my_chat_member.register(blocked, ChatMemberUpdatedFilter(member_status_changed=KICKED))
    r.my_chat_member.register(unblocked, ChatMemberUpdatedFilter(member_status_changed=MEMBER))
    return r


async def blocked(event: ChatMemberUpdated, db: Database) -> None:
    async with db.acquire() as conn:
        await users.set_blocked_bot(conn, event.from_user.id, True)


async def unblocked(event: ChatMemberUpdated, db: Database) -> None:
    async with db.acquire() as conn:
        await users.set_blocked_bot(conn, event.from_user.id, False)
