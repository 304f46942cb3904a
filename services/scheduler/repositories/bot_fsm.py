"""SQL that clears the bot's FSM rows (migration 0300) of flows users walked away from. The bot
owns the table; the scheduler only deletes what nobody has touched for a long time."""
from __future__ import annotations

from datetime import datetime

import asyncpg


async def delete_idle(conn: asyncpg.Connection, idle_since: datetime, limit: int) -> int:
    """Deletes up to `limit` rows last updated before `idle_since`; returns how many went.

    SKIP LOCKED: a row the bot is writing right now is left for the next pass instead of making
    the bot wait. FOR UPDATE re-reads a row changed since the scan began and drops it if it is no
    longer idle, so a user who just took a step keeps their flow."""
    status = await conn.execute(
        """DELETE FROM bot_fsm WHERE key IN (
               SELECT key FROM bot_fsm WHERE updated_at < $1
               ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED)""",
        idle_since, limit)
    return int(status.split()[-1])
