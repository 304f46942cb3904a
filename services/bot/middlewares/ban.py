"""Banned users are told so and go no further (payments still reach payments, which decides)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from services.bot.notices import never_held_back, tell


class BanCheck(BaseMiddleware):
    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("user")
        if user is None or not user.is_banned or not isinstance(event, Update) or never_held_back(event):
            return await handler(event, data)
        t = data["t"]
        await tell(event, data, t("banned"))
        return None
