"""Session-level advisory locks on a connection of their own (never a pooled one): PostgreSQL
releases such a lock by itself when the holding session ends, however the holder died."""
from __future__ import annotations

import asyncpg

# A holder on another host may vanish without closing its socket (power cut, network split): these
# make the server notice a silent peer within about five seconds and end its session, which frees
# its locks. They are per-session settings; over a unix socket PostgreSQL ignores them.
KEEPALIVE_SETTINGS = {
    "tcp_keepalives_idle": "2",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "5000",
}


async def try_lock(conn: asyncpg.Connection, key: int) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))


async def alive(conn: asyncpg.Connection) -> None:
    await conn.fetchval("SELECT 1")


async def holder(conn: asyncpg.Connection, key: int) -> str | None:
    """application_name of the session holding `key` (a bigint key is split into classid/objid, each
    an unsigned 32-bit half: a negative key has its sign in classid)."""
    return await conn.fetchval(
        """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
             AND l.classid = (($1::bigint >> 32) & 4294967295)::oid AND l.objid = ($1::bigint & 4294967295)::oid
           LIMIT 1""",
        key)
