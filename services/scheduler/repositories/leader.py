"""SQL of the leader lock. The lock is a session-level advisory lock: PostgreSQL releases it by
itself when the holding session ends, however the holder died."""
from __future__ import annotations

import asyncpg

# Any fixed 64-bit number ("ATCSSCHD"); every scheduler on this database takes the same one.
LEADER_LOCK = 0x41544353_53434844
NOTIFY_CHANNEL = "atcs_scheduler"


async def try_lock(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK))


async def alive(conn: asyncpg.Connection) -> None:
    await conn.fetchval("SELECT 1")


async def holder(conn: asyncpg.Connection) -> str | None:
    """application_name of the session holding the lock (a bigint key is split into classid/objid)."""
    return await conn.fetchval(
        """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
             AND l.classid = ($1::bigint >> 32)::oid AND l.objid = ($1::bigint & 4294967295)::oid
           LIMIT 1""",
        LEADER_LOCK)


async def notify(conn: asyncpg.Connection, topic: str) -> None:
    """Wakes the leader, whichever scheduler it is (delivered at commit)."""
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, topic)
