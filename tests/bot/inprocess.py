"""The bot's real dispatcher and middlewares in the test's own loop, fed the stand-in's updates
with `feed_raw_update` (no polling): for tests that swap a dependency or read logs."""
from __future__ import annotations

import asyncio
from typing import Any

from sandbox.telegram.server import TelegramStandIn

TOKEN = "123456:TEST-TOKEN"
ADMIN_ID = 999_001


class InProcessBot:
    def __init__(self, standin: TelegramStandIn, db, dp, bot, settings) -> None:
        self.standin = standin
        self.db = db
        self.dp = dp
        self.bot = bot
        self.settings = settings

    async def feed_pending(self) -> None:
        for update in await self.standin.pending_updates():
            self.standin.world.confirm(update["update_id"] + 1)
            await self.dp.feed_raw_update(self.bot, update)

    async def say(self, user_id: int, text: str, language: str = "en") -> None:
        await self.standin.user_message(user_id, text, language_code=language)
        await self.feed_pending()

    async def tap(self, user_id: int, label: str | None = None, *, data: str | None = None,
                  message_id: int | None = None) -> dict[str, Any]:
        tap = await self.standin.tap(user_id, label, data=data, message_id=message_id)
        await self.feed_pending()
        return tap


class InProcessBots:
    """Builds InProcessBots against one stand-in and database, and closes them all in `close()`."""

    def __init__(self, standin: TelegramStandIn, database_url: str) -> None:
        self.standin = standin
        self.database_url = database_url
        self._made: list[tuple[Any, Any, Any, Any]] = []

    async def make(self, *, database: str | None = None, bot_settings: dict[str, Any] | None = None,
                   **services: Any) -> InProcessBot:
        """Keyword arguments replace services (peers=..., admin_peers=...) or settings."""
        from common.settings.telegram import TelegramSettings
        from services.bot.settings import Settings
        from services.bot.settings import BotSettings
        from common.db.database import Database
        from services.bot.dispatcher import build_dispatcher
        from services.bot.followups import Followups
        from services.bot.i18n import Translations
        from services.bot.invoices import InvoicePresenter
        from services.bot.telegram.session import build_bot

        settings = Settings.read()
        settings.telegram = TelegramSettings(bot_token=TOKEN, telegram_api_url=self.standin.url,
                                             admin_ids=[ADMIN_ID], request_timeout=5)
        settings.bot = BotSettings(**(bot_settings or {}))
        db = Database(database or self.database_url, 2, acquire_timeout=1, connect_timeout=1, service="bot")
        keeper = asyncio.create_task(db.keep_connected())
        if database is None:
            assert await db.wait_ready(10)
        bot = build_bot(settings, TOKEN)
        followups = Followups()
        peers = services.pop("peers", None)
        invoices = InvoicePresenter(bot, peers, followups, settings)
        dp = build_dispatcher(db=db, settings=settings, texts=Translations(), peers=peers, followups=followups,
                              invoices=invoices, **services)
        self._made.append((keeper, db, bot, followups))
        return InProcessBot(self.standin, db, dp, bot, settings)

    async def close(self) -> None:
        for keeper, db, bot, followups in self._made:
            await followups.stop()
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await db.close()
            await bot.session.close()
        self._made.clear()
