"""Long polling as a supervised task, by one bot of all those sharing the token (on any host).

Telegram allows one getUpdates consumer per token: a database-held lease (`LeaderLock` on the
token's own advisory key, common/db/leader_lock.py) picks the one; the others are warm standbys
(aiogram assembled, notifications sent, RPC served) that take the lease within about a second of
it being freed (the poller's process died: at once; its host vanished: the keepalive bound).

Offsets are confirmed only once an update is durable: each batch is written to the inbox
(repositories/updates.py, one statement) before the next getUpdates confirms it, and marked when
its handling finished. A poller that takes the lease first handles again what its predecessor left
unfinished; an update Telegram gives again after that (its offset was never confirmed) is already
in the inbox and is skipped. So nothing is lost, and an update is handled twice only if a poller
died while handling it, at most ATCS_BOT_CONCURRENCY of them; the handlers are written to be
repeatable (docs/scaling.md lists them): their database effects are keyed (one trial per user,
one invoice per purchase key, one settlement per charge), and the worst a repeat does is send its
answer again. While the database is unreachable updates are handled without the inbox (the
database gate answers the users), as before.

On drain the long poll is cancelled, handlers already running get a short grace period, and the
rest are cancelled (their updates stay unfinished in the inbox: the next poller handles them).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import socket
import time
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramConflictError, TelegramNetworkError, TelegramRetryAfter, TelegramServerError, TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates
from aiogram.types import Update

from common.db.database import Database
from common.db.leader_lock import LeaderLock
from services.bot.telegram.handling import UpdateJournal, as_json, feed, workflow_of
from services.bot.settings import Settings

log = logging.getLogger(__name__)
POLL_LIMIT = 100
# A standby tries the lease every second and the poller checks it holds it every second: with the
# keepalive bound on a vanished host (about 5 s) a takeover stays well within 10 s.
LEASE_RETRY = 1.0
LEASE_CHECK = 1.0
FORGET_EVERY = 60.0
INBOX_KEEP = 600.0        # seconds the inbox keeps finished updates, as the record of who handled what


def polling_key(token: str) -> int:
    """The advisory lock key of a token's long polling: a digest, so the token is never in pg_locks."""
    digest = hashlib.sha256(b"atcs-bot-polling:" + token.encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1   # a positive bigint


class Polling:
    def __init__(self, dp: Dispatcher, bot: Bot, settings: Settings, db: Database, token: str) -> None:
        self.dp = dp
        self.bot = bot
        self.settings = settings
        self.db = db
        self.bot_id = int(token.split(":", 1)[0])
        self.running = False
        self.last_error: str | None = None
        self._stopping = False
        self.poller = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.journal = UpdateJournal(db, bot, self.bot_id, self.poller)
        self.lease = LeaderLock(settings.database.url(), key=polling_key(token), role="bot-polling",
                                retry_interval=LEASE_RETRY, check_interval=LEASE_CHECK,
                                connect_timeout=settings.database.db_connect_timeout)
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._stop_poll = asyncio.Event()
        self._semaphore = asyncio.Semaphore(settings.bot.bot_concurrency)
        self._workflow: dict[str, Any] = {}
        self.handled = 0
        self.repeated = 0                          # handled again after another poller died mid-way
        self.skipped = 0                           # finished by another poller, given again by Telegram
        self.polling_since: float | None = None
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
        if self.lease.role == "standby" and self.lease.holder and self.last_error is None:
            return True, ""        # a warm standby is healthy: another bot polls this token
        return False, self.last_error or "not polling Telegram yet"

    def describe(self) -> dict[str, Any]:
        return {**self.lease.describe(), "poller": self.poller, "polling": self.running,
                "polling_since": self.polling_since, "handled": self.handled, "repeated": self.repeated,
                "skipped": self.skipped, "in_flight": len(self._inflight)}

    async def _reach_telegram(self) -> None:
        """getMe until it works: an unreachable API or a refused token is a state to report
        (readiness, one warning line per try), not a crash with a traceback every few seconds."""
        pause = 1.0
        while not self._stopping:
            try:
                await self.bot.me()
                self.last_error = None
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
        """The supervised task: waits for the lease, polls while holding it, returns when drained."""
        await self._reach_telegram()
        if self._stopping:
            return
        await self.lease.run(self._lead)
        if not self._stopping:
            raise RuntimeError("polling ended by itself")

    async def _lead(self) -> None:
        """Runs while this bot holds the token's lease; cancelled at once if the lease is lost."""
        workflow = self._workflow = workflow_of(self.dp, self.bot)
        # A new holder name for each lease: what this process left unfinished under an earlier
        # lease (lost with its connection) is recovered like anyone else's.
        self.poller = self.journal.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.polling_since = time.time()
        try:   # a webhook left from webhook mode would make every getUpdates a 409
            await self.bot.delete_webhook(drop_pending_updates=False)
        except Exception as exc:  # noqa: BLE001 - polling reports what follows
            log.warning("could not remove a webhook before polling", extra={"error": type(exc).__name__})
        await self.dp.emit_startup(bot=self.bot, **workflow)
        log.info("polling Telegram", extra={"poller": self.poller})
        marker = asyncio.create_task(self.journal.run(), name="mark-finished")
        try:
            for update in await self.journal.recover():
                self.repeated += 1
                log.info("handling again an update its poller did not finish", extra={"update_id": update.update_id})
                await self._spawn(update)
            await self._poll()
            await self._wait_inflight()
        finally:
            for task in self._inflight.values():   # lease lost: the next poller handles these
                task.cancel()
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)
            self._inflight.clear()
            marker.cancel()   # it writes what is pending as it ends
            await asyncio.gather(marker, return_exceptions=True)
            self.polling_since = None
            await self.dp.emit_shutdown(bot=self.bot, **workflow)

    async def _poll(self) -> None:
        allowed = self.dp.resolve_used_update_types()
        timeout = self.settings.telegram.polling_timeout
        request_timeout = int((self.bot.session.timeout or 0) + timeout) or None
        offset: int | None = None
        forgotten_at = time.monotonic()
        pause = 0.5
        while not self._stopping:
            try:
                # Confirms (to Telegram) everything below `offset`: all of it is in the inbox.
                poll = asyncio.ensure_future(self.bot(
                    GetUpdates(offset=offset, limit=POLL_LIMIT, timeout=timeout, allowed_updates=allowed),
                    request_timeout=request_timeout))
                stop = asyncio.ensure_future(self._stop_poll.wait())
                try:
                    await asyncio.wait({poll, stop}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stop.cancel()
                if not poll.done():
                    poll.cancel()
                    await asyncio.gather(poll, return_exceptions=True)
                    return
                updates: list[Update] = poll.result()
                pause = 0.5
            except TelegramConflictError:
                self.last_error = "another process polls this token (409 Conflict)"
                log.warning("getUpdates conflict: another process polls this token", extra={"retry_in": pause})
                await asyncio.sleep(pause)   # a backoff between attempts
                pause = min(pause * 2, 5.0)
                continue
            except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as exc:
                self.last_error = f"Telegram not reachable: {type(exc).__name__}"
                log.warning("getUpdates failed, retrying", extra={"error": self.last_error, "retry_in": pause})
                await asyncio.sleep(pause)   # a backoff between attempts
                pause = min(pause * 2, 5.0)
                continue
            self.last_error = None
            if time.monotonic() - forgotten_at > FORGET_EVERY:
                forgotten_at = time.monotonic()
                await self.journal.forget(INBOX_KEEP)
            if not updates:
                continue
            new = await self.journal.record([(u.update_id, as_json(u)) for u in updates])
            for update in updates:
                if new is None or update.update_id in new:
                    await self._spawn(update)
                else:
                    self.skipped += 1   # in the inbox already: finished, or recovered at the lease's start
            offset = updates[-1].update_id + 1

    async def _spawn(self, update: Update) -> None:
        # Waiting for a free slot holds the next getUpdates back: Telegram keeps what we cannot take yet.
        await self._semaphore.acquire()
        try:
            task = asyncio.create_task(self._handle(update), name=f"update-{update.update_id}")
        except BaseException:
            self._semaphore.release()
            raise
        self._inflight[update.update_id] = task

    async def _handle(self, update: Update) -> None:
        try:
            await feed(self.dp, self.bot, update, self._workflow)
        except asyncio.CancelledError:
            self._inflight.pop(update.update_id, None)
            raise
        finally:
            self._semaphore.release()
        self.handled += 1
        self._inflight.pop(update.update_id, None)
        self.journal.finished(update.update_id)

    async def _wait_inflight(self) -> None:
        while self._inflight:
            await asyncio.wait(set(self._inflight.values()))

    async def drain(self, grace: float) -> None:
        """Stop taking updates, give running handlers `grace` seconds, cancel the rest."""
        self._stopping = True
        self._stop_poll.set()
        inflight = set(self._inflight.values())
        if inflight:
            _, pending = await asyncio.wait(inflight, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("handlers cancelled at shutdown", extra={"count": len(pending)})
                await asyncio.wait(pending, timeout=1)
