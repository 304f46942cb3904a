"""SQL of export jobs, and the COPY queries that produce each kind of CSV.

An export streams straight out of PostgreSQL (COPY ... TO STDOUT, CSV): the database formats the
rows and the scheduler only moves bytes to a file, never holding the data set.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from common.contract.scheduler import StartExport

# Timestamps are ISO 8601 in UTC (the COPY runs with TimeZone = UTC). Text typed by users goes
# through scheduler_csv_text (migration 0400) so a spreadsheet never runs it as a formula.
QUERIES: dict[str, str] = {
    "users": """
        SELECT u.id, scheduler_csv_text(u.username) AS username, scheduler_csv_text(u.first_name) AS first_name,
               u.language, u.referral_code, u.referred_by, u.is_banned, u.blocked_bot, u.balance,
               u.trial_used_at, u.created_at, u.last_seen_at,
               s.status AS subscription_status, s.expires_at AS subscription_expires_at
        FROM users u LEFT JOIN subscriptions s ON s.user_id = u.id
        ORDER BY u.id""",
    "subscriptions": """
        SELECT s.user_id, scheduler_csv_text(u.username) AS username, s.status, s.expires_at, s.is_trial,
               s.auto_renew, p.code AS plan, s.traffic_limit_bytes, s.created_at, s.updated_at
        FROM subscriptions s JOIN users u ON u.id = s.user_id LEFT JOIN plans p ON p.id = s.plan_id
        ORDER BY s.user_id""",
    "payments": """
        SELECT pu.id, pu.user_id, pu.kind, pu.method, p.code AS plan, pu.amount, pu.currency, pu.status,
               pu.provider_invoice_id, pu.provider_charge_id, pu.created_at, pu.paid_at
        FROM purchases pu LEFT JOIN plans p ON p.id = pu.plan_id
        ORDER BY pu.id""",
}


async def create(conn: asyncpg.Connection, request: StartExport) -> tuple[asyncpg.Record, bool]:
    progress = request.progress
    row = await conn.fetchrow(
        """INSERT INTO export_jobs (admin_id, request_id, kind, chat_id, progress_chat_id, progress_message_id, locale)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (admin_id, request_id) DO NOTHING RETURNING *""",
        request.admin_id, request.request_id, request.kind, request.chat_id or request.admin_id,
        progress.chat_id if progress else None, progress.message_id if progress else None, request.locale)
    if row is not None:
        return row, True
    row = await conn.fetchrow("SELECT * FROM export_jobs WHERE admin_id = $1 AND request_id = $2",
                              request.admin_id, request.request_id)
    return row, False


async def get(conn: asyncpg.Connection, export_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM export_jobs WHERE id = $1", export_id)


async def recover(conn: asyncpg.Connection) -> int:
    """After a crash: a half-written file is worthless, so a 'running' export starts over."""
    status = await conn.execute("UPDATE export_jobs SET state = 'queued' WHERE state = 'running'")
    return int(status.split()[-1])


async def claim(conn: asyncpg.Connection) -> asyncpg.Record | None:
    """The next job: one whose file is written but not yet sent first, then the oldest queued."""
    sending = await conn.fetchrow(
        "SELECT * FROM export_jobs WHERE state = 'sending' ORDER BY id LIMIT 1")
    if sending is not None:
        return sending
    return await conn.fetchrow(
        """UPDATE export_jobs SET state = 'running', attempts = attempts + 1, started_at = now(), error = NULL
           WHERE id = (SELECT id FROM export_jobs WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING *""")


async def copy_csv(conn: asyncpg.Connection, kind: str, sink: Callable[[bytes], Awaitable[None]],
                   timeout: float) -> int:
    """Streams the export of `kind` as CSV with a header into `sink`; returns the row count.
    asyncpg stops reading from the server while the sink is busy, so memory stays flat."""
    async with conn.transaction(readonly=True):
        await conn.execute("SET LOCAL TIME ZONE 'UTC'")
        status = await conn.copy_from_query(QUERIES[kind], output=sink, format="csv", header=True,
                                            timeout=timeout)
    return int(status.split()[-1])


async def written(conn: asyncpg.Connection, export_id: int, rows: int, size: int, file_name: str,
                  file_path: str) -> None:
    await conn.execute(
        """UPDATE export_jobs SET state = 'sending', rows = $2, bytes = $3, file_name = $4, file_path = $5
           WHERE id = $1""",
        export_id, rows, size, file_name, file_path)


async def finish(conn: asyncpg.Connection, export_id: int, state: str, error: str | None = None) -> asyncpg.Record:
    return await conn.fetchrow(
        "UPDATE export_jobs SET state = $2, error = $3, finished_at = now() WHERE id = $1 RETURNING *",
        export_id, state, error)


async def retry_later(conn: asyncpg.Connection, export_id: int, error: str) -> None:
    await conn.execute("UPDATE export_jobs SET state = 'queued', error = $2 WHERE id = $1", export_id, error)


async def open_count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(
        "SELECT count(*) FROM export_jobs WHERE state IN ('queued', 'running', 'sending')"))


async def files_older_than(conn: asyncpg.Connection, hours: float) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, file_path FROM export_jobs
           WHERE file_path IS NOT NULL AND state IN ('done', 'failed')
             AND coalesce(finished_at, created_at) < now() - make_interval(secs => $1)""",
        hours * 3600)


async def forget_file(conn: asyncpg.Connection, export_id: int) -> None:
    await conn.execute("UPDATE export_jobs SET file_path = NULL WHERE id = $1", export_id)
