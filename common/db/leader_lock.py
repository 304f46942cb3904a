"""Leader lock: of all processes of one role on one database (on any host), exactly one does the work.

A dedicated connection (not from the pool, which recycles connections) holds
pg_try_advisory_lock(key). A process that cannot take it is a standby: it keeps serving RPC and
tries again every `retry_interval`. The leader checks its lock connection every `check_interval`;
when it is gone (database restart, backend killed, network split) the lock is gone with it, so the
leader's work is cancelled before anything else, and the process goes back to trying. A leader
that dies frees the lock at once (its socket closes) or, when its host vanishes, within the
keepalive bound of `advisory.KEEPALIVE_SETTINGS`. The same connection may LISTEN for "look now"
notifications. Users: the scheduler (its timed jobs) and the bot (long polling of its token).
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from common.db import advisory as sql

log = logging.getLogger(__name__)
Work = Callable[[], Awaitable[None]]
_CONNECTION_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class LeaderLock:
    def __init__(self, url: str, *, key: int, role: str, retry_interval: float, check_interval: float,
                 connect_timeout: float, notify_channel: str | None = None,
                 on_notify: Callable[[str], None] | None = None,
                 on_change: Callable[[str], None] | None = None) -> None:
        """`key`: the advisory lock every process of this role takes; `role` names it in
        application_name and logs (e.g. "scheduler", "bot-polling")."""
        self.url = url
        self.key = key
        self.role_name = role
        self.notify_channel = notify_channel
        self.retry_interval = retry_interval
        self.check_interval = check_interval
        self.connect_timeout = connect_timeout
        self.on_notify = on_notify
        self.on_change = on_change
        self.name = f"atcs-{role} pid={os.getpid()} host={socket.gethostname()}"[:63]
        self.role = "standby"
        self.since = time.time()
        self.elections = 0
        self.reason = "starting"
        self.holder: str | None = None

    @property
    def is_leader(self) -> bool:
        return self.role == "leader"

    def readiness(self) -> tuple[bool, str]:
        if self.is_leader:
            return True, ""
        return False, f"standby: {self.reason}"

    def describe(self) -> dict[str, Any]:
        return {"role": self.role, "since": round(self.since, 3), "elections": self.elections,
                "reason": None if self.is_leader else self.reason, "holder": self.holder}

    async def run(self, work: Work) -> None:
        """Become leader when possible, run `work` while leading, stop it on loss; until cancelled,
        or until `work` returns (it drained on shutdown)."""
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.url, timeout=self.connect_timeout,
                                             server_settings={"application_name": self.name, **sql.KEEPALIVE_SETTINGS})
                while not await asyncio.wait_for(sql.try_lock(conn, self.key), self.connect_timeout):
                    self.holder = await asyncio.wait_for(sql.holder(conn, self.key), self.connect_timeout)
                    self._standby(f"another {self.role_name} is leader ({self.holder or 'unknown'})")
                    await asyncio.sleep(self.retry_interval)
                await self._lead(conn, work)
                return   # the work drained and ended: so does leading (the lock goes with the connection)
            except _CONNECTION_ERRORS as exc:
                self._standby(f"lock connection: {_describe(exc)}")
            finally:
                if self.is_leader:  # cancelled (shutdown) or the work failed
                    self._standby("stopping")
                if conn is not None:
                    await _close(conn)
            await asyncio.sleep(self.retry_interval)

    async def _lead(self, conn: asyncpg.Connection, work: Work) -> None:
        self.role, self.since, self.holder = "leader", time.time(), self.name
        self.elections += 1
        if self.on_change is not None:
            self.on_change(self.role)
        log.info("leader", extra={"role": self.role_name, "elections": self.elections})
        if self.on_notify is not None and self.notify_channel is not None:
            callback = self.on_notify
            await conn.add_listener(self.notify_channel, lambda *args: callback(str(args[-1])))
        task = asyncio.create_task(work(), name="leader-work")
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.check_interval)
                if done:
                    task.result()  # a failure goes to the supervisor, which restarts us
                    log.info("leader work drained; leadership ends")
                    return
                try:
                    await asyncio.wait_for(sql.alive(conn), self.connect_timeout)
                except _CONNECTION_ERRORS as exc:
                    log.warning("leader lock lost", extra={"error": _describe(exc)})
                    raise
        finally:
            # Stop the work before the lock is released, so two leaders never overlap by our doing.
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _standby(self, reason: str) -> None:
        changed = self.role != "standby"
        if changed:
            self.since = time.time()
        self.role, self.reason = "standby", reason
        if changed and self.on_change is not None:
            self.on_change(self.role)


async def _close(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), 2)
    except asyncio.CancelledError:
        conn.terminate()
        raise
    except Exception:  # noqa: BLE001 - a dead connection is simply dropped
        conn.terminate()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
