"""The update inbox and the handling of one update, the same for long polling and the webhook: record
a batch (durable before Telegram is told), feed each update to the dispatcher, mark it finished (many
marks in one statement), and take over what a dead receiver left unfinished."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update

from common.db.database import Database
from services.bot.callbacks import nonces_of_update
from services.bot.repositories import updates as journal

log = logging.getLogger(__name__)


class UpdateJournal:
    """The inbox for one receiver (`holder`: host, pid and a random part, new for each lease)."""

    def __init__(self, db: Database, bot: Bot, bot_id: int, holder: str) -> None:
        self.db = db
        self.bot = bot
        self.bot_id = bot_id
        self.holder = holder
        self._marks: list[int] = []
        self._wake = asyncio.Event()

    async def record(self, updates: list[tuple[int, str]]) -> set[int] | None:
        """The ids among `updates` ((id, JSON) pairs) that are new, now durable and ours; None when
        the database cannot be reached (the caller handles them without the inbox: the database
        gate tells the users, and a repeat is harmless where a loss is not)."""
        try:
            async with self.db.acquire() as conn:
                return await journal.record(conn, self.bot_id, updates, self.holder)
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning("update inbox not reachable; handling without it", extra={"error": type(exc).__name__})
            return None

    async def recover(self, older_than: float = 0.0, update_id: int | None = None) -> list[Update]:
        """Unfinished updates of other receivers (they died or lost the lease), now ours."""
        async with self.db.acquire() as conn:
            rows = await journal.recover(conn, self.bot_id, self.holder, older_than, update_id)
        return [Update.model_validate_json(payload, context={"bot": self.bot}) for _, payload in rows]

    async def handled(self, update_id: int) -> bool | None:
        async with self.db.acquire() as conn:
            return await journal.handled(conn, self.bot_id, update_id)

    def finished(self, update_id: int) -> None:
        """Marked soon, with others (the poller: Telegram will not give it again anyway)."""
        self._marks.append(update_id)
        self._wake.set()

    async def finished_now(self, update_id: int) -> None:
        """Marked before returning (the webhook: Telegram may send it again to another host at once)."""
        self._marks.append(update_id)
        await self.flush()

    async def run(self) -> None:
        """Writes the finished marks as soon as they come, many in one statement under load."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self.flush()
        finally:
            await self.flush()

    async def flush(self) -> None:
        if not self._marks:
            return
        marks, self._marks = self._marks, []
        try:
            async with self.db.acquire() as conn:
                await journal.finished(conn, self.bot_id, marks)
        except Exception as exc:  # noqa: BLE001 - unmarked only means a takeover would repeat them
            log.warning("could not mark updates finished", extra={"count": len(marks), "error": type(exc).__name__})

    async def forget(self, keep_seconds: float) -> None:
        try:
            async with self.db.acquire() as conn:
                await journal.forget(conn, self.bot_id, keep_seconds)
        except Exception as exc:  # noqa: BLE001 - retried at the next round
            log.warning("could not prune the update inbox", extra={"error": type(exc).__name__})


def as_json(update: Update) -> str:
    return update.model_dump_json(exclude_none=True)


async def feed(dp: Dispatcher, bot: Bot, update: Update, workflow: dict[str, Any]) -> None:
    """The dispatcher's work on one update; what the exception boundary missed is logged, not raised."""
    try:
        with nonces_of_update(bot.token, update.update_id):
            response = await dp.feed_update(bot, update, **workflow)
        if isinstance(response, TelegramMethod):
            await dp.silent_call_request(bot=bot, result=response)
    except Exception:  # noqa: BLE001 - the exception boundary answers the user; this is what it missed
        log.exception("update handling failed", extra={"update_id": update.update_id})


def workflow_of(dp: Dispatcher, bot: Bot) -> dict[str, Any]:
    data = {"dispatcher": dp, "bots": [bot], **dp.workflow_data}
    data.pop("bot", None)
    return data
