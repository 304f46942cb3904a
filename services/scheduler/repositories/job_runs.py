"""SQL of scheduler_job_runs: once-per-period jobs (the daily backup) and admin-requested runs."""
from __future__ import annotations

import asyncpg
import orjson


async def claim_period(conn: asyncpg.Connection, job: str, period: str, *, max_attempts: int,
                       retry_after: float, stale_after: float) -> asyncpg.Record | None:
    """Takes the run of `job` for `period` if it is due: never started, failed a while ago (and
    attempts remain), or left 'running' by a scheduler that died. None when it is not due."""
    return await conn.fetchrow(
        """INSERT INTO scheduler_job_runs (job, period, state, attempts, started_at)
           VALUES ($1, $2, 'running', 1, now())
           ON CONFLICT (job, period) DO UPDATE
               SET state = 'running', attempts = scheduler_job_runs.attempts + 1, started_at = now(), error = NULL
               WHERE scheduler_job_runs.state = 'queued'
                  OR (scheduler_job_runs.state = 'failed' AND scheduler_job_runs.attempts < $3
                      AND scheduler_job_runs.finished_at < now() - make_interval(secs => $4))
                  OR (scheduler_job_runs.state = 'running'
                      AND scheduler_job_runs.started_at < now() - make_interval(secs => $5))
           RETURNING *""",
        job, period, max_attempts, retry_after, stale_after)


async def requeue_cut_off(conn: asyncpg.Connection, job: str, *, max_attempts: int) -> list[str]:
    """At the start of a leadership: runs of `job` left 'running' were cut off with the leader
    that took them (only the leader runs them, and its work stops before its lock is freed).
    Due again at once — or failed, when they have used up their attempts. Returns their periods."""
    rows = await conn.fetch(
        """UPDATE scheduler_job_runs
           SET state = CASE WHEN attempts < $2 THEN 'queued' ELSE 'failed' END,
               error = 'cut off: the scheduler running it stopped',
               finished_at = CASE WHEN attempts < $2 THEN finished_at ELSE now() END
           WHERE job = $1 AND state = 'running' RETURNING period""",
        job, max_attempts)
    return [r["period"] for r in rows]


async def request(conn: asyncpg.Connection, job: str, period: str, admin_id: int) -> tuple[asyncpg.Record, bool]:
    row = await conn.fetchrow(
        """INSERT INTO scheduler_job_runs (job, period, requested_by) VALUES ($1, $2, $3)
           ON CONFLICT (job, period) DO NOTHING RETURNING *""",
        job, period, admin_id)
    if row is not None:
        return row, True
    return await get(conn, job, period), False


async def next_requested(conn: asyncpg.Connection, job: str) -> str | None:
    return await conn.fetchval(
        "SELECT period FROM scheduler_job_runs WHERE job = $1 AND state = 'queued' ORDER BY created_at LIMIT 1", job)


async def finish(conn: asyncpg.Connection, job: str, period: str, state: str, result: dict | None = None,
                 error: str | None = None) -> None:
    await conn.execute(
        """UPDATE scheduler_job_runs SET state = $3, result = $4::jsonb, error = $5, finished_at = now()
           WHERE job = $1 AND period = $2""",
        job, period, state, orjson.dumps(result or {}).decode(), error)


async def get(conn: asyncpg.Connection, job: str, period: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM scheduler_job_runs WHERE job = $1 AND period = $2", job, period)


async def latest(conn: asyncpg.Connection, job: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM scheduler_job_runs WHERE job = $1 ORDER BY created_at DESC LIMIT 1", job)
