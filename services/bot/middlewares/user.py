"""The user row, upserted once per update, and the translator in the user's language."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

from common.db.database import Database
from services.bot.i18n import Translations
from services.bot.repositories import users


class UserMiddleware(BaseMiddleware):
    def __init__(self, db: Database, texts: Translations) -> None:
        self.db = db
        self.texts = texts

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        sender = data.get("event_from_user")
        if sender is None or sender.is_bot:
            return await handler(event, data)
        async with self.db.acquire() as conn:
            row = await users.upsert(conn, sender.id, sender.username, sender.first_name,
                                     self.texts.resolve(sender.language_code))
        data["user"] = row
        data["t"] = self.texts.get(row.language)
        return await handler(event, data)
