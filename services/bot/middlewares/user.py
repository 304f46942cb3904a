"""The user row, upserted once per update, and the translator in the user's language.

The same statement reads the update's FSM row (state, and whether it holds data), handed to the
storage for this update: the FSM middleware and the handler's state.clear() then cost nothing more.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import TelegramObject

from common.db.database import Database
from services.bot.i18n import Translations
from services.bot.repositories import users
from services.bot.repositories.fsm_storage import PostgresStorage


class UserMiddleware(BaseMiddleware):
    def __init__(self, db: Database, texts: Translations, fsm: FSMContextMiddleware | None = None) -> None:
        self.db = db
        self.texts = texts
        self.fsm = fsm

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        sender = data.get("event_from_user")
        if sender is None or sender.is_bot:
            return await handler(event, data)
        language = self.texts.resolve(sender.language_code)
        context = self.fsm.resolve_event_context(data["bot"], data) if self.fsm is not None else None
        storage = self.fsm.storage if self.fsm is not None else None
        if context is None or not isinstance(storage, PostgresStorage):
            async with self.db.acquire() as conn:
                row = await users.upsert(conn, sender.id, sender.username, sender.first_name, language)
            self._identify(data, row)
            return await handler(event, data)
        key = storage.row_key(context.key)
        async with self.db.acquire() as conn:
            row, fsm = await users.upsert_with_fsm(conn, sender.id, sender.username, sender.first_name, language, key)
        self._identify(data, row)
        with storage.snapshot(key, fsm.state, fsm.has_data):
            return await handler(event, data)

    def _identify(self, data: dict[str, Any], row: users.UserRow) -> None:
        data["user"] = row
        data["t"] = self.texts.get(row.language)
