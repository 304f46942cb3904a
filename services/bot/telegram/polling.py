"""Long polling as a supervised task, with explicit timeouts and a shutdown that never waits on Telegram.

aiogram's polling is started without its own signal handling (the service runner owns signals)
and without closing the session (the notification sender shares it). On drain the long poll is
cancelled, handlers already running get a short grace period, and the rest are cancelled.
"""
from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramNetworkError, TelegramRetryAfter, TelegramServerError, TelegramUnauthorizedError,
)

from services.bot.settings import Settings

log = logging.getLogger(__name__)


class Polling:
    def __init__(self, dp: Dispatcher, bot: Bot, settings: Settings) -> None:
        self.dp = dp
        self.bot = bot
        self.settings = settings
        self.running = False
        self.last_error: str | None = None
        self._stopping = False
        dp.startup.register(self._started)
        dp.shutdown.register(self._stopped)

    async def _started(self) -> None:
        self.running = True
        self.last_error = None

    async def _stopped(self) -> None:
        self.running = False

    def readiness(self) -> tuple[bool, str]:
        if self.running:
            return True, ""
        return False, self.last_error or "not polling Telegram yet"

    async def _reach_telegram(self) -> None:
        """getMe until it works: an unreachable API or a refused token is a state to report
        (readiness, one warning line per try), not a crash with a traceback every few seconds."""
        pause = 1.0
        while not self._stopping:
            try:
                await self.bot.me()
                return
            except TelegramUnauthorizedError:
                self.last_error = "Telegram refused ATCS_BOT_TOKEN (401 Unauthorized)"
                pause = 60.0
            except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as exc:
                self.last_error = f"Telegram not reachable: {type(exc).__name__}"
            log.warning("cannot reach Telegram, retrying", extra={"error": self.last_error, "retry_in": pause})
            await asyncio.sleep(pause)  # a backoff between attempts
            pause = min(pause * 2, 30.0)

    async def run(self) -> None:
        """The supervised task: polls until drained, then returns; an unexpected end is a crash (restarted)."""
        await self._reach_telegram()
        if not self._stopping:
            try:
                await self.dp.start_polling(
                    self.bot,
                    polling_timeout=self.settings.telegram.polling_timeout,
                    handle_as_tasks=True,
                    tasks_concurrency_limit=self.settings.bot.bot_concurrency,
                    allowed_updates=self.dp.resolve_used_update_types(),
                    handle_signals=False,
                    close_bot_session=False,
                )
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise
            if not self._stopping:
                raise RuntimeError("polling ended by itself")
        # Drained: returning ends the task (the supervisor is draining too, so it does not restart it).

    async def drain(self, grace: float) -> None:
        """Stop taking updates, give running handlers `grace` seconds, cancel the rest."""
        self._stopping = True
        if self.running:
            try:
                await asyncio.wait_for(self.dp.stop_polling(), timeout=grace)
            except (RuntimeError, TimeoutError):
                pass
        # aiogram keeps the tasks of updates being handled here (no public accessor).
        inflight = set(getattr(self.dp, "_handle_update_tasks", ()))
        if inflight:
            _, pending = await asyncio.wait(inflight, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("handlers cancelled at shutdown", extra={"count": len(pending)})
                await asyncio.wait(pending, timeout=1)
