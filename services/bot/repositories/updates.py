"""SQL of the bot's update inbox (migrations/0500_bot_updates.sql): record a batch before it is
confirmed to Telegram, mark what finished, hand a dead receiver's unfinished updates to another."""
from __future__ import annotations

import asyncpg


async def record(conn: asyncpg.Connection, bot_id: int, updates: list[tuple[int, str]], holder: str) -> set[int]:
    """Writes `updates` ((id, JSON payload) pairs) as taken by `holder`; returns the ids that were
    new. An id already there was recorded by an earlier receiver: finished, or left to `recover`."""
    rows = await conn.fetch(
        """INSERT INTO bot_updates (bot_id, update_id, payload, poller)
           SELECT $1, u.id, u.payload::jsonb, $4 FROM unnest($2::bigint[], $3::text[]) AS u(id, payload)
           ON CONFLICT (bot_id, update_id) DO NOTHING
           RETURNING update_id""",
        bot_id, [u[0] for u in updates], [u[1] for u in updates], holder)
    return {row["update_id"] for row in rows}


async def recover(conn: asyncpg.Connection, bot_id: int, holder: str,
                  older_than: float = 0.0, update_id: int | None = None) -> list[tuple[int, str]]:
    """Takes over the unfinished updates of other holders (received more than `older_than` seconds
    ago; only `update_id` if given), oldest first; returns (id, JSON payload) pairs."""
    rows = await conn.fetch(
        """UPDATE bot_updates SET poller = $2, attempts = attempts + 1, received_at = now()
           WHERE bot_id = $1 AND handled_at IS NULL AND poller <> $2
             AND received_at < now() - make_interval(secs => $3)
             AND ($4::bigint IS NULL OR update_id = $4)
           RETURNING update_id, payload::text AS payload""",
        bot_id, holder, older_than, update_id)
    return sorted((row["update_id"], row["payload"]) for row in rows)


async def handled(conn: asyncpg.Connection, bot_id: int, update_id: int) -> bool | None:
    """True: finished; False: recorded, not finished; None: never recorded."""
    return await conn.fetchval(
        "SELECT handled_at IS NOT NULL FROM bot_updates WHERE bot_id = $1 AND update_id = $2", bot_id, update_id)


async def finished(conn: asyncpg.Connection, bot_id: int, update_ids: list[int]) -> None:
    await conn.execute(
        "UPDATE bot_updates SET handled_at = now() WHERE bot_id = $1 AND update_id = ANY($2::bigint[])",
        bot_id, update_ids)


async def forget(conn: asyncpg.Connection, bot_id: int, keep_seconds: float) -> int:
    """Deletes finished rows older than `keep_seconds` (Telegram does not give an update again
    once a later offset was confirmed, which the poller did long before)."""
    status = await conn.execute(
        """DELETE FROM bot_updates WHERE bot_id = $1 AND handled_at IS NOT NULL
             AND handled_at < now() - make_interval(secs => $2)""", bot_id, keep_seconds)
    return int(status.split()[-1])
