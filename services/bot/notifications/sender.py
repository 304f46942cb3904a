"""The sender: drains the notifications and admin_alerts outboxes into Telegram.

The loop is common/lifecycle/worker.py's: it wakes on the NUDGE_NOTIFICATIONS RPC or every few
seconds (a lost nudge costs latency only).
Sends with bounded concurrency but in order per user; a 429 that outlasts the session's own
retries reschedules the row for retry_after; a user who blocked the bot (403) is marked and the
row failed; other failures retry with backoff, then fail.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError, TelegramBadRequest, TelegramForbiddenError, TelegramNetworkError, TelegramRetryAfter,
    TelegramServerError,
)

from services.bot.settings import Settings
from common.db.database import Database, DatabaseUnavailable
from common.lifecycle.worker import WorkerLoop
from services.bot.i18n import Translations
from services.bot.notifications.render import BOT_USERNAME, NEEDS_KEY, NEEDS_USERNAME, render, render_alert
from services.bot.repositories import notifications as outbox
from services.bot.repositories import subscriptions, users
from services.bot.repositories.notifications import Alert, Pending
from services.bot.repositories.subscriptions import KeyView
from services.bot.telegram.safe_edit import safe_edit

log = logging.getLogger(__name__)
BATCH = 50
MAX_ATTEMPTS = 8
ALERT_BACKOFF = 30.0


@dataclass(frozen=True)
class Outgoing:
    """A claimed row with what rendering it needs, read in the claim's connection."""
    item: Pending
    language: str | None
    key: KeyView | None


class NotificationSender:
    def __init__(self, db: Database, bot: Bot, texts: Translations, settings: Settings) -> None:
        self.db = db
        self.bot = bot
        self.texts = texts
        self.admin_ids = list(settings.telegram.admin_ids)
        # One pass: a batch of rows, each user's in order (one lane), users side by side; then alerts.
        self.loop: WorkerLoop[Outgoing] = WorkerLoop(
            "notifications", db, claim=self._claim, work=self._send_one, rescan=settings.bot.bot_notify_interval,
            concurrency=settings.bot.bot_notify_concurrency, batch=BATCH, lane=lambda out: out.item.user_id,
            after_pass=self._alerts)
        self._alerts_paused_until = 0.0
        self.sent = 0

    def nudge(self) -> None:
        self.loop.nudge()

    async def run(self) -> None:
        await self.loop.run()

    async def drain_once(self) -> bool:
        """One pass over both outboxes; True when a full batch was read (more may be waiting)."""
        return await self.loop.pass_once()

    async def _claim(self, limit: int) -> list[Outgoing]:
        async with self.db.acquire() as conn:
            due = await outbox.claim_due(conn, limit)
            ids = sorted({p.user_id for p in due})
            languages = await users.language_of(conn, ids) if ids else {}
            keyed = sorted({p.user_id for p in due if p.kind in NEEDS_KEY})
            keys = await subscriptions.keys_of(conn, keyed) if keyed else {}
        return [Outgoing(item, languages.get(item.user_id), keys.get(item.user_id)) for item in due]

    async def _send_one(self, out: Outgoing) -> None:
        item, language, key = out.item, out.language, out.key
        t = self.texts.get(language)
        params = item.params
        if item.kind in NEEDS_USERNAME:
            try:
                me = await self.bot.me()   # asked of Telegram once; aiogram keeps the answer
            except (TelegramAPIError, TimeoutError) as exc:
                await self._finish(item, "retry", f"getMe: {type(exc).__name__}", delay=min(2.0 ** item.attempts, 300.0))
                return
            params = {**params, BOT_USERNAME: me.username or ""}
        try:
            rendered = render(item.kind, params, t, key)
        except Exception as exc:  # noqa: BLE001 - one malformed row must not stop the sender
            log.exception("notification could not be rendered", extra={"notification_id": item.id})
            await self._finish(item, "failed", f"render: {type(exc).__name__}")
            return
        if rendered is None:
            await self._finish(item, "failed", f"unknown kind {item.kind!r}")
            return
        edit = item.params.get("edit") if isinstance(item.params.get("edit"), dict) else None
        try:
            if edit and int(edit.get("chat_id", 0)) == item.user_id:
                await safe_edit(self.bot, item.user_id, int(edit["message_id"]), rendered.text, rendered.markup)
            else:
                await self.bot.send_message(item.user_id, rendered.text, reply_markup=rendered.markup)
        except TelegramForbiddenError as exc:
            async with self.db.acquire() as conn:
                await users.set_blocked_bot(conn, item.user_id, True)
            await self._finish(item, "failed", f"forbidden: {exc.message}")
            return
        except TelegramRetryAfter as exc:
            await self._finish(item, "retry", "flood control", delay=float(exc.retry_after), count=False)
            return
        except TelegramBadRequest as exc:
            await self._finish(item, "failed", f"bad request: {exc.message}")
            return
        except (TelegramNetworkError, TelegramServerError, TelegramAPIError, TimeoutError) as exc:
            if item.attempts >= MAX_ATTEMPTS:
                await self._finish(item, "failed", f"gave up: {type(exc).__name__}")
            else:
                await self._finish(item, "retry", type(exc).__name__, delay=min(2.0 ** item.attempts, 300.0))
            return
        self.sent += 1
        await self._finish(item, "sent", "")

    async def _finish(self, item: Pending, outcome: str, error: str, *, delay: float = 0.0, count: bool = True) -> None:
        if outcome != "sent":
            log.warning("notification not sent", extra={"notification_id": item.id, "kind": item.kind,
                                                         "outcome": outcome, "error": error[:200]})
        try:
            async with self.db.acquire() as conn:
                if outcome == "sent":
                    await outbox.mark_sent(conn, item.id)
                elif outcome == "failed":
                    await outbox.mark_failed(conn, item.id, error)
                else:
                    await outbox.retry_later(conn, item.id, delay, error, count_attempt=count)
        except DatabaseUnavailable:
            # The lease expires and the row is tried again: at worst a duplicate message, never a lost one.
            log.warning("notification outcome not recorded", extra={"notification_id": item.id})

    async def _alerts(self) -> None:
        loop = asyncio.get_running_loop()
        if not self.admin_ids or loop.time() < self._alerts_paused_until:
            return
        async with self.db.acquire() as conn:
            alerts = await outbox.unsent_alerts(conn, 20)
            languages = await users.language_of(conn, self.admin_ids) if alerts else {}
        for alert in alerts:
            if not await self._send_alert(alert, languages):
                self._alerts_paused_until = loop.time() + ALERT_BACKOFF
                return
            async with self.db.acquire() as conn:
                await outbox.mark_alert_sent(conn, alert.id)

    async def _send_alert(self, alert: Alert, languages: dict[int, str]) -> bool:
        """True when the alert reached an admin or cannot reach any (then it is not retried)."""
        delivered, transient = 0, 0
        for admin_id in self.admin_ids:
            text = render_alert(self.texts.get(languages.get(admin_id)), alert)
            try:
                await self.bot.send_message(admin_id, text)
                delivered += 1
            except (TelegramForbiddenError, TelegramBadRequest) as exc:
                log.warning("admin alert refused", extra={"admin_id": admin_id, "error": exc.message[:200]})
            except TelegramAPIError as exc:
                transient += 1
                log.warning("admin alert not sent", extra={"admin_id": admin_id, "error": type(exc).__name__})
        return delivered > 0 or transient == 0
