"""The scheduler's leader lock key and its "look now" channel (the lock itself: common/db/leader_lock.py)."""
from __future__ import annotations

import asyncpg

# Any fixed 64-bit number ("ATCSSCHD"); every scheduler on this database takes the same one.
LEADER_LOCK = 0x41544353_53434844
NOTIFY_CHANNEL = "atcs_scheduler"


async def notify(conn: asyncpg.Connection, topic: str) -> None:
    """Wakes the leader, whichever scheduler it is (delivered at commit)."""
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, topic)
