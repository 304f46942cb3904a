"""A degraded notice when the database is not ready, before anything tries to query it.

The pool keeper flips `ready` within a second of the server going away or coming back, so this
answers at once instead of letting each update wait out an acquire timeout.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from common.db.database import Database
from services.bot.notices import degraded_text, tell, translator_for


class DatabaseGate(BaseMiddleware):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        if self.db.ready:
            return await handler(event, data)
        assert isinstance(event, Update)
        await tell(event, data, degraded_text(event, translator_for(data)))
        return None
