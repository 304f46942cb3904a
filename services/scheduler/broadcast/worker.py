"""The leader's broadcast worker: takes broadcasts one at a time (oldest first), freezes the
audience into recipient rows, and runs them. It wakes on NOTIFY (a broadcast was started,
paused, resumed or cancelled through any scheduler) and rescans on a timer anyway.
"""
from __future__ import annotations

import logging
from typing import Any

import asyncpg

from services.scheduler.settings import SchedulerSettings
from common.db.database import Database
from common.lifecycle.worker import WorkerLoop
from common.telegram.bot_api import BotApi
from services.scheduler.broadcast.run import BroadcastRun
from services.scheduler.broadcast.state import to_state
from services.scheduler.broadcast.view import render
from services.scheduler.repositories import broadcasts as repo
from services.scheduler.telegram.progress import ProgressMessage
from services.scheduler.telegram.ratelimit import RateLimiter
from services.scheduler.wakeups import Wakeups

log = logging.getLogger(__name__)
RESCAN = 5.0          # seconds between scans when nothing woke the worker
DRAIN_TIMEOUT = 4.0   # of the 8 s shutdown budget


class BroadcastWorker:
    def __init__(self, db: Database, api: BotApi, limiter: RateLimiter, settings: SchedulerSettings,
                 wakeups: Wakeups) -> None:
        self.db = db
        self.api = api
        self.limiter = limiter
        self.settings = settings
        self.current: BroadcastRun | None = None
        self.recovered = 0
        # One broadcast at a time, oldest first: each run keeps the rate cap for itself.
        self.loop: WorkerLoop[asyncpg.Record] = WorkerLoop(
            "broadcasts", db, claim=self._next, work=self._send, rescan=RESCAN, wake=wakeups.event("broadcast"),
            prepare=self._recover)

    def describe(self) -> dict[str, Any]:
        run = self.current
        return {"current": run.id if run else None, "rate": round(run.meter.rate(), 2) if run else 0.0,
                "recovered_in_doubt": self.recovered}

    async def run(self) -> None:
        """Until drained (see common/lifecycle/worker.py)."""
        await self.loop.run()

    async def drain(self) -> None:
        """SIGTERM: the current run stops sending, finishes what is in flight and records it."""
        if self.current is not None:
            self.current.stop()
        await self.loop.drain(DRAIN_TIMEOUT)
        if self.current is not None:
            log.warning("broadcast did not settle before shutdown; its in-flight rows will be in doubt")

    async def _recover(self) -> None:
        async with self.db.transaction() as conn:
            for row in await repo.recover_in_flight(conn):
                self.recovered += row["n"]
                log.warning("broadcast resumed after a crash: rows in doubt will be sent again",
                            extra={"broadcast_id": row["id"], "in_doubt": row["n"]})

    async def _next(self, _limit: int) -> list[asyncpg.Record]:
        await self._refresh_progress()
        async with self.db.acquire() as conn:
            row = await repo.next_to_run(conn)
        if row is None or row["state"] != "queued":
            return [] if row is None else [row]
        async with self.db.transaction() as conn:
            total = await repo.materialize(conn, row["id"], row["audience"], row["language"])
        log.info("broadcast started", extra={"broadcast_id": row["id"], "recipients": total})
        async with self.db.acquire() as conn:
            return [await repo.get(conn, row["id"])]

    async def _send(self, row: asyncpg.Record) -> None:
        self.current = BroadcastRun(self.db, self.api, self.limiter, self.settings, row)
        try:
            await self.current.run()
        finally:
            self.current = None

    async def _refresh_progress(self) -> None:
        """Progress messages of broadcasts paused or cancelled while no run was showing them."""
        async with self.db.acquire() as conn:
            stale = await repo.stale_progress(conn)
        for row in stale:
            message = ProgressMessage(self.api, self.limiter, row["progress_chat_id"], row["progress_message_id"])
            text, keyboard = render(to_state(row, self.settings), row["locale"])
            moved_to = await message.show(text, keyboard)
            async with self.db.transaction() as conn:
                if moved_to is not None:
                    await repo.set_progress_message(conn, row["id"], message.chat_id, moved_to)
                await repo.progress_shown(conn, row["id"], row["state"])
