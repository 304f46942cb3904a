"""An aiogram Bot that talks to the Telegram stand-in, as the tests of the stand-in use it."""
from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Update

from sandbox.telegram import TelegramStandIn


class LoopbackSession(AiohttpSession):
    async def close(self) -> None:
        # aiogram waits 250 ms here for TLS connections to close; loopback HTTP needs no such wait.
        if self._session is not None and not self._session.closed:
            await self._session.close()


def loopback_bot(standin: TelegramStandIn, token: str | None = None, **options: Any) -> Bot:
    """A Bot on the stand-in's Bot API (with its own token unless another is given); the caller
    closes its session."""
    return Bot(token or standin.token, session=LoopbackSession(api=TelegramAPIServer.from_base(standin.url)),
               **options)


async def next_update(bot: Bot, kind: str) -> Update:
    """Long-poll until an update of `kind` arrives, confirming everything before it."""
    offset = 0
    while True:
        updates = await bot.get_updates(offset=offset, timeout=5)
        assert updates, f"no {kind} update within the poll timeout"
        for update in updates:
            offset = update.update_id + 1
            if getattr(update, kind) is not None:
                await bot.get_updates(offset=offset)  # confirm it
                return update
