"""The daily backup (pg_dump into ATCS_BACKUP_DIR, the ATCS_BACKUP_KEEP newest kept), and
backups an admin asked for through RUN_BACKUP.

"Once a day across restarts" is the scheduler_job_runs row (backup, <UTC date>): taken once,
retried a few times if it failed. A run a killed leader left 'running' (its host died mid-dump)
is taken again as soon as a scheduler, on any host, becomes leader: only the leader dumps, so a
run still 'running' then is nobody's. A dump is written to a .partial file and renamed when
complete, so a backup file is never half a dump.
"""
from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.scheduler.settings import SchedulerSettings
from common.db.database import Database
from common.lifecycle.worker import WorkerLoop
from services.scheduler.jobs.pg_dump import PgDumpError, pg_dump
from services.scheduler.jobs.timed import Clock, utcnow
from services.scheduler.private_files import create_private
from services.scheduler.repositories import job_runs
from services.scheduler.wakeups import Wakeups

log = logging.getLogger(__name__)
JOB = "backup"
PREFIX, SUFFIX = "atcs-", ".dump"
MAX_ATTEMPTS = 3
RETRY_AFTER = 600.0      # seconds between attempts of a failed day
RESCAN = 60.0


class BackupJob:
    def __init__(self, db: Database, settings: SchedulerSettings, database_url: str, wakeups: Wakeups,
                 clock: Clock = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.database_url = database_url
        self.clock = clock
        self.last: dict[str, Any] | None = None
        # A period is taken (its job_runs row is the lease) and dumped, one at a time.
        self.loop: WorkerLoop[str] = WorkerLoop("backup", db, claim=self._next_due, work=self._dump, rescan=RESCAN,
                                                wake=wakeups.event(JOB), batch=1, prepare=self._recover)

    def describe(self) -> dict[str, Any] | None:
        return self.last

    async def run(self) -> None:
        await self.loop.run()

    async def _recover(self) -> None:
        async with self.db.acquire() as conn:
            periods = await job_runs.requeue_cut_off(conn, JOB, max_attempts=MAX_ATTEMPTS)
        if periods:
            log.warning("backup cut off by a stopped scheduler is made again", extra={"periods": periods})

    async def run_due(self) -> list[str]:
        """Makes today's backup if it is due, then any an admin requested; returns their periods."""
        done: list[str] = []
        while periods := await self._next_due(1):
            await self._dump(periods[0])
            done.append(periods[0])
        return done

    async def _next_due(self, _limit: int) -> list[str]:
        """Today's period if its backup is due, else the next one an admin asked for: taken."""
        now = self.clock()
        if self.settings.backup_enabled and now.hour >= self.settings.backup_hour:
            period = now.date().isoformat()
            if await self._take(period):
                return [period]
        async with self.db.acquire() as conn:
            period = await job_runs.next_requested(conn, JOB)
        return [period] if period is not None and await self._take(period) else []

    async def _take(self, period: str) -> bool:
        async with self.db.acquire() as conn:
            row = await job_runs.claim_period(conn, JOB, period, max_attempts=MAX_ATTEMPTS, retry_after=RETRY_AFTER,
                                              stale_after=self.settings.backup_timeout + 60)
        return row is not None

    async def _dump(self, period: str) -> None:
        folder = self.settings.backup_dir
        name = f"{PREFIX}{self.clock().strftime('%Y%m%d-%H%M%S')}{SUFFIX}"
        partial = folder / (name + ".partial")
        started = asyncio.get_running_loop().time()
        try:
            # pg_dump writes into the file as it finds it: made private first, it stays private.
            await asyncio.to_thread(lambda: create_private(partial).close())
            size = await pg_dump(self.database_url, partial, self.settings.backup_timeout)
            await asyncio.to_thread(os.replace, partial, folder / name)
            removed = await asyncio.to_thread(rotate, folder, self.settings.backup_keep)
        except asyncio.CancelledError:
            # Leadership ended (or shutdown): pg_dump is killed; the next leader makes it again.
            await asyncio.shield(asyncio.to_thread(partial.unlink, True))
            raise
        except (PgDumpError, OSError, TimeoutError) as exc:
            error = "pg_dump timed out" if isinstance(exc, TimeoutError) else f"{exc}"[:500]
            await asyncio.to_thread(partial.unlink, True)
            async with self.db.acquire() as conn:
                await job_runs.finish(conn, JOB, period, "failed", error=error)
            self.last = {"period": period, "state": "failed", "error": error}
            log.error("backup failed", extra={"period": period, "error": error})
            return
        result = {"file": name, "bytes": size, "seconds": round(asyncio.get_running_loop().time() - started, 2),
                  "rotated": removed}
        async with self.db.acquire() as conn:
            await job_runs.finish(conn, JOB, period, "done", result)
        self.last = {"period": period, "state": "done", **result}
        log.info("backup made", extra={"period": period, **result})


def rotate(folder: Path, keep: int) -> list[str]:
    """Deletes all but the `keep` newest backups (names sort by time) and stale partial files."""
    backups = sorted(p for p in folder.glob(f"{PREFIX}*{SUFFIX}") if p.is_file())
    removed = [p.name for p in backups[:-keep]] if len(backups) > keep else []
    for name in removed:
        (folder / name).unlink(missing_ok=True)
    now = datetime.now(UTC).timestamp()
    for partial in folder.glob(f"{PREFIX}*{SUFFIX}.partial"):
        if now - partial.stat().st_mtime > 24 * 3600:
            partial.unlink(missing_ok=True)
    return removed
