"""SQL of broadcasts and their recipient rows.

Recipient states: pending -> sending (claimed by the sender) -> sent | failed | blocked, or back
to pending (a transient error, a pause, a crash). Counters on the broadcast row move in the same
statement as the recipient rows they count, so they never drift from them.
"""
from __future__ import annotations

from dataclasses import dataclass
import asyncpg

from common.contract.scheduler import Audience, StartBroadcast

OPEN_STATES = ("queued", "running", "paused")

# Who receives a broadcast. Never users who blocked the bot or are banned.
_AUDIENCES: dict[str, str] = {
    "all": "true",
    "active": """EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id
                         AND s.status = 'active' AND s.expires_at > now())""",
    "inactive": """EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id
                           AND NOT (s.status = 'active' AND s.expires_at > now()))""",
    "trial": """EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id AND s.is_trial
                        AND s.status = 'active' AND s.expires_at > now())""",
    "never_subscribed": "NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id)",
}


@dataclass(frozen=True)
class Result:
    """What the sender learnt about one recipient. state 'pending' = try again in retry_in s."""
    user_id: int
    state: str
    error: str | None = None
    retry_in: float = 0.0


async def create(conn: asyncpg.Connection, request: StartBroadcast) -> tuple[asyncpg.Record, bool]:
    """The broadcast of (admin_id, request_id): made now (True) or made before (False)."""
    progress = request.progress
    row = await conn.fetchrow(
        """INSERT INTO broadcasts (admin_id, request_id, text, parse_mode, link_preview, audience, language,
                                   progress_chat_id, progress_message_id, locale, paid)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (admin_id, request_id) DO NOTHING RETURNING *""",
        request.admin_id, request.request_id, request.text, request.parse_mode, request.link_preview,
        request.audience, request.language, progress.chat_id if progress else None,
        progress.message_id if progress else None, request.locale, request.paid)
    if row is not None:
        return row, True
    row = await conn.fetchrow("SELECT * FROM broadcasts WHERE admin_id = $1 AND request_id = $2",
                              request.admin_id, request.request_id)
    return row, False


async def get(conn: asyncpg.Connection, broadcast_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM broadcasts WHERE id = $1", broadcast_id)


async def recent(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM broadcasts ORDER BY id DESC LIMIT $1", limit)


async def move(conn: asyncpg.Connection, broadcast_id: int, from_states: tuple[str, ...], to_state: str,
               error: str | None = None) -> asyncpg.Record | None:
    """State change if the broadcast is in one of `from_states`; None otherwise."""
    return await conn.fetchrow(
        """UPDATE broadcasts SET state = $3, updated_at = now(), error = coalesce($4, error),
                  finished_at = CASE WHEN $3 IN ('cancelled', 'done', 'failed') THEN now() ELSE finished_at END
           WHERE id = $1 AND state = ANY($2::text[]) RETURNING *""",
        broadcast_id, list(from_states), to_state, error)


async def next_to_run(conn: asyncpg.Connection) -> asyncpg.Record | None:
    """The oldest broadcast to work on: one at a time, so they share the rate cap in order."""
    return await conn.fetchrow(
        "SELECT * FROM broadcasts WHERE state IN ('queued', 'running') ORDER BY id LIMIT 1")


async def materialize(conn: asyncpg.Connection, broadcast_id: int, audience: Audience,
                      language: str | None) -> int | None:
    """Writes the recipient rows and starts the broadcast, in the caller's transaction.
    None if it is no longer queued (cancelled meanwhile)."""
    queued = await conn.fetchval("SELECT true FROM broadcasts WHERE id = $1 AND state = 'queued' FOR UPDATE",
                                 broadcast_id)
    if not queued:
        return None
    condition = _AUDIENCES[audience]  # a fixed fragment chosen by a validated name, never user text
    status = await conn.execute(
        f"""INSERT INTO broadcast_recipients (broadcast_id, user_id)
            SELECT $1, u.id FROM users u
            WHERE NOT u.blocked_bot AND NOT u.is_banned AND ($2::text IS NULL OR u.language = $2)
              AND {condition}
            ORDER BY u.id""",
        broadcast_id, language)
    total = int(status.split()[-1])
    await conn.execute(
        """UPDATE broadcasts SET state = 'running', total = $2, started_at = now(), updated_at = now()
           WHERE id = $1""",
        broadcast_id, total)
    return total


async def audience_size(conn: asyncpg.Connection, audience: Audience, language: str | None) -> int:
    """How many users a broadcast to this audience would reach now (the cost estimate before it starts)."""
    condition = _AUDIENCES[audience]  # a fixed fragment chosen by a validated name, never user text
    return int(await conn.fetchval(
        f"""SELECT count(*) FROM users u
            WHERE NOT u.blocked_bot AND NOT u.is_banned AND ($1::text IS NULL OR u.language = $1)
              AND {condition}""",
        language))


async def recover_in_flight(conn: asyncpg.Connection, broadcast_id: int | None = None) -> list[asyncpg.Record]:
    """After a crash: rows left 'sending' may or may not have been delivered. They are sent again
    (a miss is worse than a rare duplicate) and counted as in doubt on their broadcast."""
    return await conn.fetch(
        """WITH back AS (
               UPDATE broadcast_recipients SET state = 'pending', next_attempt_at = now()
               WHERE state = 'sending' AND ($1::bigint IS NULL OR broadcast_id = $1)
               RETURNING broadcast_id),
           counted AS (SELECT broadcast_id, count(*) AS n FROM back GROUP BY broadcast_id)
           UPDATE broadcasts b SET in_doubt = b.in_doubt + counted.n, updated_at = now()
           FROM counted WHERE b.id = counted.broadcast_id
           RETURNING b.id, counted.n""",
        broadcast_id)


async def claim(conn: asyncpg.Connection, broadcast_id: int,
                limit: int) -> tuple[str | None, list[tuple[int, int]]]:
    """The broadcast's state, and — if it is running — up to `limit` due recipients, now 'sending',
    as (user_id, attempts) in user order."""
    state = await conn.fetchval("SELECT state FROM broadcasts WHERE id = $1", broadcast_id)
    if state != "running":
        return state, []
    rows = await conn.fetch(
        """UPDATE broadcast_recipients r SET state = 'sending', attempts = r.attempts + 1
           WHERE r.broadcast_id = $1 AND r.user_id IN (
               SELECT user_id FROM broadcast_recipients
               WHERE broadcast_id = $1 AND state = 'pending' AND next_attempt_at <= now()
               ORDER BY user_id LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING r.user_id, r.attempts""",
        broadcast_id, limit)
    return state, sorted((r["user_id"], r["attempts"]) for r in rows)


async def release(conn: asyncpg.Connection, broadcast_id: int, user_ids: list[int]) -> None:
    """Claimed rows that were never handed to Telegram go back, their attempt not counted."""
    await conn.execute(
        """UPDATE broadcast_recipients SET state = 'pending', attempts = greatest(attempts - 1, 0)
           WHERE broadcast_id = $1 AND user_id = ANY($2::bigint[]) AND state = 'sending'""",
        broadcast_id, user_ids)


async def record(conn: asyncpg.Connection, broadcast_id: int, results: list[Result], *,
                 throttled: int, rate: float) -> asyncpg.Record:
    """Stores outcomes, marks users who blocked the bot, and moves the counters — one statement.
    Only rows still 'sending' move, so recording the same outcome twice counts it once."""
    return await conn.fetchrow(
        """WITH x AS (
               SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::float8[])
                   AS x(user_id, state, error, retry_in)),
           moved AS (
               UPDATE broadcast_recipients r
               SET state = x.state, error = x.error,
                   done_at = CASE WHEN x.state = 'pending' THEN NULL ELSE now() END,
                   next_attempt_at = now() + make_interval(secs => x.retry_in)
               FROM x WHERE r.broadcast_id = $1 AND r.user_id = x.user_id AND r.state = 'sending'
               RETURNING r.user_id, r.state),
           marked AS (
               UPDATE users SET blocked_bot = true
               WHERE id IN (SELECT user_id FROM moved WHERE state = 'blocked') AND NOT blocked_bot
               RETURNING id)
           UPDATE broadcasts SET
               sent = sent + (SELECT count(*) FROM moved WHERE state = 'sent'),
               failed = failed + (SELECT count(*) FROM moved WHERE state = 'failed'),
               blocked = blocked + (SELECT count(*) FROM moved WHERE state = 'blocked'),
               throttled = throttled + $6, rate = $7, updated_at = now()
           WHERE id = $1 RETURNING *""",
        broadcast_id, [r.user_id for r in results], [r.state for r in results],
        [r.error for r in results], [r.retry_in for r in results], throttled, rate)


@dataclass(frozen=True)
class OpenRows:
    pending: int
    sending: int
    due_in: float | None     # seconds until the first pending row may be sent (<= 0: now)


async def open_rows(conn: asyncpg.Connection, broadcast_id: int) -> OpenRows:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
                  count(*) FILTER (WHERE state = 'sending') AS sending,
                  extract(epoch FROM min(next_attempt_at) FILTER (WHERE state = 'pending') - now())::float8 AS due_in
           FROM broadcast_recipients WHERE broadcast_id = $1 AND state IN ('pending', 'sending')""",
        broadcast_id)
    return OpenRows(row["pending"], row["sending"], row["due_in"])


async def set_progress_message(conn: asyncpg.Connection, broadcast_id: int, chat_id: int, message_id: int) -> None:
    await conn.execute("UPDATE broadcasts SET progress_chat_id = $2, progress_message_id = $3 WHERE id = $1",
                       broadcast_id, chat_id, message_id)


async def progress_shown(conn: asyncpg.Connection, broadcast_id: int, state: str) -> None:
    await conn.execute("UPDATE broadcasts SET progress_shown = $2 WHERE id = $1", broadcast_id, state)


async def stale_progress(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Broadcasts not being sent whose progress message does not show their state yet (paused or
    cancelled by an RPC that any scheduler may have served)."""
    return await conn.fetch(
        """SELECT * FROM broadcasts
           WHERE progress_message_id IS NOT NULL AND state IN ('paused', 'cancelled', 'failed', 'done')
             AND progress_shown IS DISTINCT FROM state AND updated_at > now() - interval '7 days'
           ORDER BY id LIMIT 20""")


async def remaining(conn: asyncpg.Connection) -> int:
    """Recipients still to go over every open broadcast (the queue depth in status)."""
    return int(await conn.fetchval(
        """SELECT coalesce(sum(greatest(total - sent - failed - blocked, 0)), 0)
           FROM broadcasts WHERE state IN ('queued', 'running', 'paused')"""))
