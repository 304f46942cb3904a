"""SQL of bulk reissue jobs (vpn_bulk_jobs, vpn_bulk_items)."""
from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import orjson


@dataclass(frozen=True)
class JobRow:
    id: int
    state: str
    total: int
    done: int
    failed: int
    admin_id: int


async def create_job(conn: asyncpg.Connection, admin_id: int, request_id: str, scope: str) -> tuple[int, bool]:
    """(job id, made now). The same request_id returns the job it made before. The target users
    are fixed here: those with an active subscription and a key on a panel."""
    job_id = await conn.fetchval(
        """INSERT INTO vpn_bulk_jobs (admin_id, request_id, scope) VALUES ($1, $2, $3)
           ON CONFLICT (request_id) DO NOTHING RETURNING id""", admin_id, request_id, scope)
    if job_id is None:
        return await conn.fetchval("SELECT id FROM vpn_bulk_jobs WHERE request_id = $1", request_id), False
    total = await conn.fetchval(
        """WITH added AS (
               INSERT INTO vpn_bulk_items (job_id, user_id)
               SELECT $1, s.user_id
               FROM subscriptions s JOIN vpn_accounts v ON v.user_id = s.user_id
               WHERE s.status = 'active' AND s.expires_at > now()
                 AND v.status = 'active' AND v.panel_id IS NOT NULL
               RETURNING 1)
           SELECT count(*) FROM added""", job_id)
    await conn.execute("UPDATE vpn_bulk_jobs SET total = $2 WHERE id = $1", job_id, total)
    await conn.execute(
        """INSERT INTO admin_audit (admin_id, action, target, detail) VALUES ($1, 'bulk_reissue', $2, $3::jsonb)""",
        admin_id, f"job:{job_id}", orjson.dumps({"scope": scope, "total": total}).decode())
    return job_id, True


async def get_job(conn: asyncpg.Connection, job_id: int) -> JobRow | None:
    row = await conn.fetchrow(
        """SELECT j.id, j.state, j.total, j.admin_id,
                  count(*) FILTER (WHERE i.state = 'done') AS done,
                  count(*) FILTER (WHERE i.state = 'failed') AS failed
           FROM vpn_bulk_jobs j LEFT JOIN vpn_bulk_items i ON i.job_id = j.id
           WHERE j.id = $1 GROUP BY j.id""", job_id)
    return JobRow(**dict(row)) if row else None


async def cancel(conn: asyncpg.Connection, job_id: int) -> bool:
    """Stops feeding the queue; reissues already queued finish on their own."""
    status = await conn.execute(
        "UPDATE vpn_bulk_jobs SET state = 'cancelled', finished_at = now() WHERE id = $1 AND state = 'running'",
        job_id)
    if status.endswith(" 0"):
        return False
    await conn.execute("UPDATE vpn_bulk_items SET state = 'skipped' WHERE job_id = $1 AND state = 'waiting'", job_id)
    return True


async def open_jobs(conn: asyncpg.Connection) -> list[int]:
    """Jobs to step: running ones, and cancelled ones whose queued reissues are still counted."""
    rows = await conn.fetch(
        """SELECT j.id FROM vpn_bulk_jobs j
           WHERE j.state = 'running'
              OR EXISTS (SELECT 1 FROM vpn_bulk_items i WHERE i.job_id = j.id AND i.state = 'queued')
           ORDER BY j.id""")
    return [r["id"] for r in rows]


async def lock_job(conn: asyncpg.Connection, job_id: int) -> str | None:
    return await conn.fetchval("SELECT state FROM vpn_bulk_jobs WHERE id = $1 FOR UPDATE", job_id)


async def sync_items(conn: asyncpg.Connection, job_id: int) -> None:
    """Queued items follow their activation: done, or failed once admins were alerted about it."""
    await conn.execute(
        """UPDATE vpn_bulk_items i
           SET state = CASE WHEN a.state = 'done' THEN 'done'
                            WHEN a.state = 'failed' OR a.alerted_at IS NOT NULL THEN 'failed'
                            ELSE i.state END
           FROM activations a
           WHERE i.job_id = $1 AND i.state IN ('queued', 'failed') AND a.id = i.activation_id""", job_id)


async def outstanding(conn: asyncpg.Connection, job_id: int) -> int:
    return await conn.fetchval("SELECT count(*) FROM vpn_bulk_items WHERE job_id = $1 AND state = 'queued'", job_id)


async def next_waiting(conn: asyncpg.Connection, job_id: int, limit: int) -> list[int]:
    rows = await conn.fetch(
        """SELECT user_id FROM vpn_bulk_items WHERE job_id = $1 AND state = 'waiting'
           ORDER BY user_id LIMIT $2""", job_id, limit)
    return [r["user_id"] for r in rows]


async def mark_queued(conn: asyncpg.Connection, job_id: int, user_id: int, activation_id: int) -> None:
    await conn.execute(
        "UPDATE vpn_bulk_items SET state = 'queued', activation_id = $3 WHERE job_id = $1 AND user_id = $2",
        job_id, user_id, activation_id)


async def finish_if_complete(conn: asyncpg.Connection, job_id: int) -> bool:
    status = await conn.execute(
        """UPDATE vpn_bulk_jobs SET state = 'done', finished_at = now()
           WHERE id = $1 AND state = 'running'
             AND NOT EXISTS (SELECT 1 FROM vpn_bulk_items
                             WHERE job_id = $1 AND state IN ('waiting', 'queued'))""", job_id)
    return status.endswith(" 1")


async def open_items(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM vpn_bulk_items WHERE state IN ('waiting', 'queued')")
