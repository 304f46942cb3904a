"""The one pool factory, and a Database that keeps a service alive while PostgreSQL is away.

A service never crashes because the database is down: `Database.keep_connected` (a supervised
task) creates the pool with backoff and probes it; `ready` says whether queries can run now, and
`acquire()` fails fast with `DatabaseUnavailable` instead of hanging.

A connection goes back to the pool it came from, even when `close()` has run meanwhile; `close()`
lets work in flight finish for half its bound, then cancels whoever still holds a connection.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """No connection could be had in time; callers degrade instead of waiting."""


# What asyncpg raises when the server goes away under a query: a closed socket, a terminated
# backend, a server shutting down or still starting, a protocol left mid-message.
CONNECTION_LOST = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                   asyncpg.exceptions.AdminShutdownError, asyncpg.exceptions.CannotConnectNowError,
                   asyncpg.exceptions.InternalClientError)


def is_outage(exc: BaseException) -> bool:
    """True when `exc` (or what it was raised from) says the database is away, not that the
    query or the code is wrong: an outage is a warning and a retry, never a traceback."""
    while exc is not None:
        # A bare OSError is left out: from an HTTP client it is a peer's trouble, not ours.
        if isinstance(exc, (DatabaseUnavailable, *CONNECTION_LOST[1:])):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


async def create_pool(url: str, size: int, connect_timeout: float) -> asyncpg.Pool:
    # min_size=0: Database.keep_connected owns reconnecting (with backoff, and one warning when
    # the database is lost). asyncpg's own floor keeper would retry beside it, logging a
    # traceback every second of an outage from a task nobody supervises.
    return await asyncpg.create_pool(
        url, min_size=0, max_size=size, timeout=connect_timeout, command_timeout=30,
        max_inactive_connection_lifetime=120, reset=_keep_session,
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection needs on its way back to the pool: only the end of a transaction left open.

    asyncpg's default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`, a
    round trip on every release (half the statements of a /start). Pooled connections never take
    session state: the leader lock, LISTEN and migrations hold their own connections, and `SET`
    is only ever `SET LOCAL`. tests/foundation/test_pool_release.py keeps that true."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class Database:
    def __init__(self, url: str, size: int, *, acquire_timeout: float = 5.0,
                 connect_timeout: float = 3.0, probe_interval: float = 1.0, service: str = "") -> None:
        self.url = url
        self.size = size
        self.acquire_timeout = acquire_timeout
        self.connect_timeout = connect_timeout
        self.probe_interval = probe_interval
        self.service = service
        self.pool: asyncpg.Pool | None = None
        self.last_error: str | None = None
        self._ready = asyncio.Event()
        self._checked_capacity = False
        self._closed = False
        # Who holds each lent connection, so that close() can wait for them and then cancel them.
        self._holders: dict[asyncpg.Connection, asyncio.Task | None] = {}
        self._all_returned = asyncio.Event()
        self._all_returned.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
            return True
        except TimeoutError:
            return False

    @contextlib.asynccontextmanager
    async def acquire(self, timeout: float | None = None) -> AsyncIterator[asyncpg.Connection]:
        pool = self.pool
        if pool is None or not self.ready:
            raise DatabaseUnavailable(self.last_error or "database not connected yet")
        try:
            conn = await pool.acquire(timeout=timeout or self.acquire_timeout)
        except TimeoutError:
            # Every connection is busy: back-pressure, not an outage, so readiness is untouched.
            raise DatabaseUnavailable("no free database connection in time (pool exhausted)") from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if self._closed:
                raise DatabaseUnavailable("database closed") from exc
            self._mark_down(exc)
            raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc
        self._holders[conn] = asyncio.current_task()
        self._all_returned.clear()
        try:
            yield conn
        except CONNECTION_LOST as exc:
            if not self._closed:
                self._mark_down(exc)
            raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc
        finally:
            try:
                await _give_back(pool, conn)
            finally:
                self._holders.pop(conn, None)
                if not self._holders:
                    self._all_returned.set()

    @contextlib.asynccontextmanager
    async def transaction(self, timeout: float | None = None) -> AsyncIterator[asyncpg.Connection]:
        async with self.acquire(timeout) as conn:
            async with conn.transaction():
                yield conn

    def _mark_down(self, exc: BaseException) -> None:
        if self.ready:
            log.warning("database lost", extra={"error": str(exc) or type(exc).__name__})
        self.last_error = str(exc) or type(exc).__name__
        self._ready.clear()

    def stats(self) -> dict[str, int | bool | str | None]:
        pool = self.pool
        return {
            "ready": self.ready,
            "size": pool.get_size() if pool else 0,
            "idle": pool.get_idle_size() if pool else 0,
            "max": self.size,
            "last_error": self.last_error,
        }

    async def keep_connected(self) -> None:
        """Connect with backoff, then probe forever; flips `ready` both ways. Ends after close()."""
        backoff = 0.2
        while not self._closed:
            pool = self.pool
            if pool is None:
                try:
                    pool = await create_pool(self.url, self.size, self.connect_timeout)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                    self.last_error = str(exc) or type(exc).__name__
                    log.warning("database not reachable, retrying", extra={"error": self.last_error, "retry_in": round(backoff, 2)})
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if self._closed:  # close() ran while this pool was being made: nobody will use it
                    pool.terminate()
                    return
                self.pool = pool
            try:
                async with asyncio.timeout(self.connect_timeout + 1):
                    async with pool.acquire() as conn:
                        await conn.fetchval("SELECT 1")
                        if not self._checked_capacity:
                            await self._check_capacity(conn)
                if self._closed:
                    return
                if not self.ready:
                    log.info("database ready")
                self.last_error = None
                self._ready.set()
                backoff = 0.2
                await asyncio.sleep(self.probe_interval)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                if self._closed:
                    return
                self._mark_down(exc)
                # Drop idle connections to the dead server so the next probe opens fresh ones.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pool.expire_connections(), 1)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _check_capacity(self, conn: asyncpg.Connection) -> None:
        from common.db.capacity import check_capacity
        await check_capacity(conn, self.service)
        self._checked_capacity = True

    async def close(self, timeout: float = 3.0) -> None:
        """Stops lending connections, lets work in flight finish for half of `timeout`, cancels
        whoever still holds a connection, and closes the pool; returns within `timeout`."""
        self._closed = True
        pool, self.pool = self.pool, None
        self._ready.clear()
        if pool is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if not await self._returned_within(timeout / 2):
            me = asyncio.current_task()
            stuck = {task for task in self._holders.values() if task is not None and task is not me}
            log.warning("cancelling database work still in flight at close", extra={"tasks": len(stuck)})
            for task in stuck:
                task.cancel()
            await self._returned_within(max(0.0, (deadline - loop.time()) / 2))
        try:
            await asyncio.wait_for(pool.close(), max(0.01, deadline - loop.time()))
        except (TimeoutError, Exception):  # noqa: BLE001 - whatever went wrong, nothing may stay open
            pool.terminate()

    async def _returned_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._all_returned.wait(), seconds)
            return True
        except TimeoutError:
            return False


async def _give_back(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    try:
        await pool.release(conn)
    except asyncpg.InterfaceError:
        # A pool terminated by close() has already dropped the connection; anything else is a bug.
        if not pool.is_closing():
            raise
