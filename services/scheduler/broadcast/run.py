"""Sending one broadcast: claim recipient rows, send each through the rate limiter, record the
outcomes, show progress — until it is done, paused, cancelled or failed, or the worker stops.

Crash safety comes from the row states. Rows are claimed ('sending') a fraction of a second
ahead of their send, and outcomes are written every few tenths of a second (pace.py: shorter for
a paid broadcast), so a SIGKILL leaves in doubt only the few rows claimed or in flight at that
moment; they are counted and sent again on resume (repositories.broadcasts.recover_in_flight).
A graceful stop hands unsent rows back.

A paid broadcast sends with allow_paid_broadcast at its own pace. If Telegram refuses a message
because the bot's Stars balance is short, the broadcast is paused (STARS_SHORT): topping the
balance up and resuming carries on where it stopped.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import asyncpg

from services.scheduler.settings import SchedulerSettings
from common.db.database import Database, DatabaseUnavailable
from common.lifecycle.outcome import log_failure
from common.telegram.bot_api import BotApi, BotApiError
from services.scheduler.broadcast.meter import RateMeter
from services.scheduler.broadcast.pace import pace
from services.scheduler.broadcast.state import to_state
from services.scheduler.broadcast.view import STARS_SHORT, render
from services.scheduler.repositories import broadcasts as repo
from services.scheduler.repositories.broadcasts import Result
from services.scheduler.telegram.progress import ProgressMessage
from services.scheduler.telegram.ratelimit import RateLimiter

log = logging.getLogger(__name__)
IN_FLIGHT_GRACE = 5.0       # seconds a graceful stop waits for requests already sent
# Telegram refuses the message itself: every recipient would fail the same way.
_BAD_MESSAGE = ("can't parse entities", "message is too long", "MESSAGE_TOO_LONG", "text must be non-empty",
                "message text is empty")
# STARS_SHORT: the error a paid broadcast is paused with when the bot's Stars run out.
_STARS_SHORT_MARKERS = ("BALANCE_TOO_LOW", "not enough stars")


class BroadcastRun:
    def __init__(self, db: Database, api: BotApi, limiter: RateLimiter, settings: SchedulerSettings,
                 row: asyncpg.Record) -> None:
        self.db = db
        self.api = api
        self.limiter = limiter
        self.settings = settings
        self.id: int = row["id"]
        self.row = row
        self.locale: str = row["locale"]
        self.meter = RateMeter()
        self.paid: bool = row["paid"]
        self.pace = pace(settings, self.paid)
        self.claim_size = self.pace.claim_size
        self._payload: dict[str, Any] = {"text": row["text"],
                                         "link_preview_options": {"is_disabled": not row["link_preview"]}}
        if row["parse_mode"]:
            self._payload["parse_mode"] = row["parse_mode"]
        if self.paid:
            self._payload["allow_paid_broadcast"] = True
        self._queue: deque[tuple[int, int]] = deque()   # claimed (user_id, attempts) not yet sent
        self._results: list[Result] = []
        self._throttled = 0
        self._inflight: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(self.pace.concurrency)
        self._stop = asyncio.Event()
        self._fatal: tuple[str, str] | None = None      # (state to move to, why)
        self._flush_lock = asyncio.Lock()
        self._progress: ProgressMessage | None = None
        if row["progress_chat_id"] is not None and row["progress_message_id"] is not None:
            self._progress = ProgressMessage(api, limiter, row["progress_chat_id"], row["progress_message_id"])

    def stop(self) -> None:
        """Graceful stop (SIGTERM): no new sends; what is in flight finishes and is recorded."""
        self._stop.set()

    async def run(self) -> str:
        """Returns the state the broadcast ended in, or 'stopped' when asked to stop."""
        background = [asyncio.create_task(self._flush_loop(), name=f"broadcast-{self.id}-flush"),
                      asyncio.create_task(self._progress_loop(), name=f"broadcast-{self.id}-progress")]
        try:
            await self._show_progress()
            outcome = await self._send_all()
            await self._settle(wait=True)
        except BaseException:
            # Cancelled (leadership lost, shutdown) or the database failed: what was sent and
            # answered is still written if it can be; requests cut off stay 'sending' (in doubt).
            await asyncio.shield(self._settle_quickly())
            raise
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        if self._fatal is not None:
            state, error = self._fatal
            log.error("broadcast stopped: Telegram refused it", extra={"broadcast_id": self.id, "error": error})
            async with self.db.transaction() as conn:
                moved = await repo.move(conn, self.id, ("running",), state, error)
            outcome = state if moved is not None else outcome
        async with self.db.acquire() as conn:
            self.row = await repo.get(conn, self.id)
        await self._show_progress(final=outcome != "stopped")
        log.info("broadcast run ended", extra={"broadcast_id": self.id, "outcome": outcome,
                                                "sent": self.row["sent"], "failed": self.row["failed"],
                                                "blocked": self.row["blocked"]})
        return outcome

    # --- sending ---------------------------------------------------------------------------------

    async def _send_all(self) -> str:
        while not self._stop.is_set() and self._fatal is None:
            if not self._queue:
                async with self.db.transaction() as conn:
                    state, claimed = await repo.claim(conn, self.id, self.claim_size)
                if state != "running":
                    return state or "cancelled"
                if not claimed:
                    if await self._idle():
                        return "done"
                    continue
                self._queue.extend(claimed)
            await self._slots.acquire()
            if self._stop.is_set() or self._fatal is not None or not self._queue:
                self._slots.release()
                continue
            user_id, attempts = self._queue.popleft()
            try:
                await self.limiter.acquire(user_id, paid=self.paid)
            except BaseException:
                self._queue.appendleft((user_id, attempts))
                self._slots.release()
                raise
            task = asyncio.create_task(self._send_one(user_id, attempts))
            self._inflight.add(task)
            task.add_done_callback(self._sent)
        return "stopped"

    def _sent(self, task: asyncio.Task) -> None:
        self._inflight.discard(task)
        self._slots.release()
        log_failure(task, log, "broadcast send failed unrecorded", broadcast_id=self.id)

    async def _send_one(self, user_id: int, attempts: int) -> None:
        try:
            await self.api.call("sendMessage", {"chat_id": user_id, **self._payload})
        except BotApiError as exc:
            self._refused(user_id, attempts, exc)
            return
        self._results.append(Result(user_id, "sent"))
        self.meter.tick()

    def _refused(self, user_id: int, attempts: int, exc: BotApiError) -> None:
        if exc.status == 429:
            # Flood control is bot-wide: everyone waits, and this row goes first afterwards.
            self._throttled += 1
            self.limiter.pause(exc.retry_after or 1.0)
            self._queue.appendleft((user_id, attempts))
            return
        if exc.status == 400 and self.paid and any(m.lower() in exc.description.lower() for m in _STARS_SHORT_MARKERS):
            # Nothing more goes out until the balance is topped up; this row was not sent (nor billed).
            self._fatal = ("paused", STARS_SHORT)
            self._queue.appendleft((user_id, attempts))
            return
        if exc.status == 403:
            self._results.append(Result(user_id, "blocked", exc.description[:200]))
        elif exc.status == 400 and any(marker in exc.description for marker in _BAD_MESSAGE):
            self._fatal = ("failed", exc.description[:200])
            self._queue.appendleft((user_id, attempts))
            return
        elif exc.status in (401, 404):
            # The token or the API URL is wrong: nothing will go out. Paused, so an admin can
            # resume once the configuration is fixed.
            self._fatal = ("paused", f"{exc.status}: {exc.description}"[:200])
            self._queue.appendleft((user_id, attempts))
            return
        elif exc.transient and attempts < self.settings.broadcast_max_attempts:
            self._results.append(Result(user_id, "pending", exc.description[:200], retry_in=min(60.0, 2.0 ** attempts)))
            return
        else:
            self._results.append(Result(user_id, "failed", exc.description[:200]))
        self.meter.tick()

    async def _idle(self) -> bool:
        """Nothing claimable right now. True when the broadcast is complete."""
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            return False
        await self._flush()
        async with self.db.transaction() as conn:
            rows = await repo.open_rows(conn, self.id)
            if rows.pending == 0 and rows.sending == 0:
                done = await repo.move(conn, self.id, ("running",), "done")
                if done is not None:
                    return True
                return False
        if rows.pending == 0:
            # 'sending' rows nobody here holds: left by an earlier leader. They are in doubt.
            async with self.db.transaction() as conn:
                await repo.recover_in_flight(conn, self.id)
            return False
        # Rows waiting to be retried: sleep until the first is due (a stop cuts this short).
        wait = min(max(rows.due_in, 0.05), 1.0) if rows.due_in is not None else 1.0
        try:
            await asyncio.wait_for(self._stop.wait(), wait)
        except TimeoutError:
            pass
        return False

    # --- recording -------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.pace.flush_every)
            try:
                await self._flush()
            except (DatabaseUnavailable, asyncpg.PostgresError) as exc:
                # Kept in memory and written by the next flush.
                log.warning("broadcast outcomes not written yet", extra={"broadcast_id": self.id, "error": str(exc)})

    async def _flush(self) -> None:
        async with self._flush_lock:
            if not self._results and not self._throttled:
                return
            batch, throttled = list(self._results), self._throttled
            async with self.db.transaction() as conn:
                row = await repo.record(conn, self.id, batch, throttled=throttled, rate=self.meter.rate())
            # Outcomes that arrived during the write stay for the next flush.
            del self._results[:len(batch)]
            self._throttled -= throttled
            if row is not None:
                self.row = row

    async def _settle(self, wait: bool) -> None:
        """Ends the run's sending: in-flight requests finish (or are cut off), claimed rows that
        were never sent go back to pending, and every outcome is written."""
        if self._inflight:
            if wait:
                await asyncio.wait(set(self._inflight), timeout=IN_FLIGHT_GRACE)
            for task in list(self._inflight):
                task.cancel()
            await asyncio.gather(*self._inflight, return_exceptions=True)
        unsent = [user_id for user_id, _ in self._queue]
        self._queue.clear()
        if unsent:
            async with self.db.transaction() as conn:
                await repo.release(conn, self.id, unsent)
        await self._flush()

    async def _settle_quickly(self) -> None:
        try:
            async with asyncio.timeout(1.5):  # inside LeaderWork's stop bound
                await self._settle(wait=False)
        except (TimeoutError, DatabaseUnavailable, asyncpg.PostgresError, OSError) as exc:
            log.warning("broadcast stopped without recording everything: those rows will be in doubt",
                        extra={"broadcast_id": self.id, "error": type(exc).__name__})

    # --- progress --------------------------------------------------------------------------------

    async def _progress_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.broadcast_progress_interval)
            await self._show_progress()

    async def _show_progress(self, final: bool = False) -> None:
        if self._progress is None:
            return
        state = to_state(self.row, self.settings)
        if state.state == "running" and not final:
            state = state.model_copy(update={"rate": round(self.meter.rate(), 2)})
        text, keyboard = render(state, self.locale)
        moved_to = await self._progress.show(text, keyboard)
        try:
            async with self.db.transaction() as conn:
                if moved_to is not None:
                    await repo.set_progress_message(conn, self.id, self._progress.chat_id, moved_to)
                if final:
                    await repo.progress_shown(conn, self.id, state.state)
        except DatabaseUnavailable:
            pass  # shown anyway; the worker refreshes stale progress messages later
