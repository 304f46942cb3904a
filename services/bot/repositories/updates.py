"""SQL of the bot's update journal (migrations/0500_bot_updates.sql): what the poller may handle,
what it finished, and what Telegram can no longer give again."""
from __future__ import annotations

import asyncpg


async def take(conn: asyncpg.Connection, bot_id: int, update_ids: list[int], poller: str) -> dict[int, int]:
    """Of `update_ids`, those `poller` should handle, with their attempt (1: new; more: another
    poller took it but never finished, it died). Finished ones, and ones this poller already holds,
    are left out."""
    rows = await conn.fetch(
        """INSERT INTO bot_updates AS u (bot_id, update_id, poller)
           SELECT $1, id, $3 FROM unnest($2::bigint[]) AS id
           ON CONFLICT (bot_id, update_id) DO UPDATE
               SET poller = excluded.poller, attempts = u.attempts + 1, received_at = now()
               WHERE u.handled_at IS NULL AND u.poller <> excluded.poller
           RETURNING update_id, attempts""",
        bot_id, update_ids, poller)
    return {row["update_id"]: row["attempts"] for row in rows}


async def finished(conn: asyncpg.Connection, bot_id: int, update_ids: list[int]) -> None:
    await conn.execute(
        "UPDATE bot_updates SET handled_at = now() WHERE bot_id = $1 AND update_id = ANY($2::bigint[])",
        bot_id, update_ids)


async def forget_below(conn: asyncpg.Connection, bot_id: int, offset: int, keep_seconds: float) -> int:
    """Telegram has confirmed everything below `offset`: it will never be delivered again. Rows are
    kept `keep_seconds` all the same, as the record of who handled what (and how often) lately."""
    status = await conn.execute(
        """DELETE FROM bot_updates WHERE bot_id = $1 AND update_id < $2
             AND received_at < now() - make_interval(secs => $3)""", bot_id, offset, keep_seconds)
    return int(status.split()[-1])
