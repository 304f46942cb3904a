"""Handling one update with the journal, the same for long polling and the webhook: take it (or learn
it was already handled), feed it to the dispatcher, mark it finished (many marks in one statement)."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update

from common.db.database import Database
from services.bot.repositories import updates as journal

log = logging.getLogger(__name__)


class UpdateJournal:
    """`take` and `finished` for one receiver (`holder`: host, pid and a random part)."""

    def __init__(self, db: Database, bot_id: int, holder: str) -> None:
        self.db = db
        self.bot_id = bot_id
        self.holder = holder
        self._marks: list[int] = []
        self._wake = asyncio.Event()

    async def take(self, ids: list[int]) -> dict[int, int]:
        """The ids to handle, with their attempt (more than 1: a receiver died while handling it)."""
        try:
            async with self.db.transaction() as conn:
                return await journal.take(conn, self.bot_id, ids, self.holder)
        except Exception as exc:  # noqa: BLE001 - the database gate answers the users; we must not drop them
            # Without the journal a repeat cannot be told: handle them (a repeat is harmless, a loss is not).
            log.warning("update journal not reachable; handling without it", extra={"error": type(exc).__name__})
            return dict.fromkeys(ids, 1)

    def finished(self, update_id: int) -> None:
        self._marks.append(update_id)
        self._wake.set()

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

    async def forget_below(self, offset: int, keep_seconds: float) -> None:
        try:
            async with self.db.acquire() as conn:
                await journal.forget_below(conn, self.bot_id, offset, keep_seconds)
        except Exception as exc:  # noqa: BLE001 - retried at the next round
            log.warning("could not prune the update journal", extra={"error": type(exc).__name__})


async def feed(dp: Dispatcher, bot: Bot, update: Update, workflow: dict[str, Any]) -> None:
    """The dispatcher's work on one update; what the exception boundary missed is logged, not raised."""
    try:
        response = await dp.feed_update(bot, update, **workflow)
        if isinstance(response, TelegramMethod):
            await dp.silent_call_request(bot=bot, result=response)
    except Exception:  # noqa: BLE001 - the exception boundary answers the user; this is what it missed
        log.exception("update handling failed", extra={"update_id": update.update_id})


def workflow_of(dp: Dispatcher, bot: Bot) -> dict[str, Any]:
    data = {"dispatcher": dp, "bots": [bot], **dp.workflow_data}
    data.pop("bot", None)
    return data
