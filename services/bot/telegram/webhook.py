"""Webhook mode: Telegram posts each update to ATCS_BOT_WEBHOOK_URL, which your proxy or load balancer
forwards to the bot's listener on any number of hosts (docs/scaling.md says when to choose it).

Every bot sets the webhook (the same URL and secret: idempotent) and serves it; none is a standby.
A request is accepted only with Telegram's `X-Telegram-Bot-Api-Secret-Token` equal to
ATCS_BOT_WEBHOOK_SECRET (compared in constant time). The answer (200) is given once handling is
durable, so Telegram re-sends an update whose host died mid-way (to any host); the journal
(repositories/updates.py) makes a re-sent finished update a no-op, as in polling mode; a re-sent update another host is still
handling is refused (503, Telegram tries again later) until STALE_AFTER has passed.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import os
import secrets
import socket
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from common.db.database import Database
from services.bot.settings import Settings
from services.bot.telegram.handling import UpdateJournal, feed, workflow_of

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# An unfinished update another host took this long ago is taken over: that host died or gave up.
STALE_AFTER = 30.0


class WebhookReceiver:
    def __init__(self, dp: Dispatcher, bot: Bot, settings: Settings, db: Database, token: str) -> None:
        self.dp = dp
        self.bot = bot
        self.config = settings.bot
        self.url = settings.bot.bot_webhook_url or ""
        self.path = urlsplit(self.url).path or "/"
        self._secret = (settings.bot.bot_webhook_secret.get_secret_value() if settings.bot.bot_webhook_secret else "")
        self.receiver = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.journal = UpdateJournal(db, bot, int(token.split(":", 1)[0]), self.receiver)
        self._semaphore = asyncio.Semaphore(settings.bot.bot_concurrency)
        self._workflow: dict[str, Any] = {}
        self._runner: web.AppRunner | None = None
        self._stopping = False
        self._drained = asyncio.Event()
        self.serving = False
        self.last_error: str | None = None
        self.handled = 0
        self.repeated = 0
        self.skipped = 0
        self.refused = 0

    def readiness(self) -> tuple[bool, str]:
        if self.serving:
            return True, ""
        return False, self.last_error or "webhook not set yet"

    def describe(self) -> dict[str, Any]:
        return {"mode": "webhook", "receiver": self.receiver, "serving": self.serving, "handled": self.handled,
                "repeated": self.repeated, "skipped": self.skipped, "refused": self.refused}

    async def run(self) -> None:
        """The supervised task: listens, sets the webhook, serves until drained."""
        self._workflow = workflow_of(self.dp, self.bot)
        app = web.Application()
        app.router.add_post(self.path, self._receive)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        marks = asyncio.create_task(self.journal.run(), name="mark-finished")
        try:
            await web.TCPSite(self._runner, self.config.bot_webhook_host, self.config.bot_webhook_port,
                              reuse_address=True).start()
            await self._set_webhook()
            await self.dp.emit_startup(bot=self.bot, **self._workflow)
            self.serving = True
            log.info("serving the Telegram webhook", extra={"port": self.config.bot_webhook_port, "path": self.path})
            await self._drained.wait()   # the listener serves; this task only owns it until drained
        finally:
            self.serving = False
            await self._runner.cleanup()
            marks.cancel()
            await asyncio.gather(marks, return_exceptions=True)

    async def _set_webhook(self) -> None:
        pause = 1.0
        while not self._stopping:
            try:
                await self.bot.set_webhook(self.url, secret_token=self._secret, drop_pending_updates=False,
                                           allowed_updates=self.dp.resolve_used_update_types())
                self.last_error = None
                return
            except Exception as exc:  # noqa: BLE001 - reported by readiness, retried
                self.last_error = f"setWebhook failed: {type(exc).__name__}"
                log.warning("setWebhook failed, retrying", extra={"error": type(exc).__name__, "retry_in": pause})
            await asyncio.sleep(pause)   # a backoff between attempts
            pause = min(pause * 2, 30.0)

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            self.refused += 1
            return web.Response(status=401, text="wrong secret token")
        if self._stopping:
            return web.Response(status=503, text="shutting down")   # Telegram re-sends it, maybe to another host
        try:
            raw = await request.text()
            update = Update.model_validate_json(raw, context={"bot": self.bot})
        except (ValueError, ValidationError):
            return web.Response(status=400, text="not an update")
        new = await self.journal.record([(update.update_id, raw)])
        if new is not None and update.update_id not in new:
            # Re-sent: Telegram had no answer from the host it chose first.
            if await self.journal.handled(update.update_id):
                self.skipped += 1
                return web.Response(text="ok")
            taken = await self.journal.recover(older_than=STALE_AFTER, update_id=update.update_id)
            if not taken:   # another host is still on it: ask Telegram to send it again later
                return web.Response(status=503, text="being handled")
            self.repeated += 1
        async with self._semaphore:
            await feed(self.dp, self.bot, update, self._workflow)
        self.handled += 1
        await self.journal.finished_now(update.update_id)
        return web.Response(text="ok")

    async def drain(self, grace: float) -> None:
        """Stop taking updates (Telegram re-sends them elsewhere); the listener lets running ones finish."""
        self._stopping = True
        try:
            if self._runner is not None:
                await asyncio.wait_for(self._runner.shutdown(), timeout=grace)
        finally:
            self._drained.set()
