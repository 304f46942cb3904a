"""The daily pg_dump backup: once per day across passes, N newest kept, admin-requested runs,
and no password on pg_dump's command line."""
from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import orjson

from common.contract.scheduler import BackupQuery, StartBackup
from services.scheduler.jobs.backup import JOB, MAX_ATTEMPTS, BackupJob
from services.scheduler.jobs.pg_dump import split_password
from services.scheduler.repositories import job_runs
from services.scheduler.rpc.backups import BackupHandlers
from services.scheduler.wakeups import Wakeups
from tests.scheduler.process import ADMIN_ID
from tests.support.wait import wait_for


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_daily_backup_once_per_day_with_rotation(db, conn, database_url, settings) -> None:
    config = settings(backup_keep=2, backup_hour=3).scheduler
    clock = Clock(datetime(2030, 1, 1, 2, 0, tzinfo=UTC))
    job = BackupJob(db, config, database_url, Wakeups(), clock=clock)
    assert await job.run_due() == [], "not before ATCS_BACKUP_HOUR"
    clock.now = clock.now.replace(hour=4)
    assert await job.run_due() == ["2030-01-01"]
    assert await job.run_due() == [], "once a day"
    for day in (2, 3):
        clock.now = clock.now + timedelta(days=1)
        assert await job.run_due() == [f"2030-01-0{day}"]
    files = sorted(p.name for p in config.backup_dir.iterdir())
    assert files == ["atcs-20300102-040000.dump", "atcs-20300103-040000.dump"]
    assert (config.backup_dir / files[-1]).read_bytes()[:5] == b"PGDMP"
    assert oct(config.backup_dir.stat().st_mode & 0o777) == "0o700"
    run = await conn.fetchrow("SELECT state, result FROM scheduler_job_runs WHERE period = '2030-01-03'")
    assert run["state"] == "done" and orjson.loads(run["result"])["rotated"] == ["atcs-20300101-040000.dump"]


async def test_a_backup_is_private_whatever_the_umask_and_the_folder_it_finds(db, database_url, settings) -> None:
    """A dump holds every user and key: 0600 in a 0700 folder, even from a scheduler started with a
    loose umask, and even in a folder an older version (or an operator) made 0755."""
    config = settings(backup_hour=0).scheduler
    config.backup_dir.mkdir()
    os.chmod(config.backup_dir, 0o755)
    job = BackupJob(db, config, database_url, Wakeups(), clock=Clock(datetime(2030, 1, 1, 5, tzinfo=UTC)))
    loose = os.umask(0)
    try:
        assert await job.run_due() == ["2030-01-01"]
    finally:
        os.umask(loose)
    [dump] = config.backup_dir.iterdir()
    assert dump.read_bytes()[:5] == b"PGDMP"
    assert oct(dump.stat().st_mode & 0o777) == "0o600"
    assert oct(config.backup_dir.stat().st_mode & 0o777) == "0o700"


async def test_admin_backup_now_and_its_state(db, conn, database_url, settings) -> None:
    config = settings(backup_enabled=False)
    handlers = BackupHandlers(db, config)
    requested = await handlers.run(StartBackup(admin_id=ADMIN_ID, request_id="now-1"))
    assert requested.state == "queued"
    assert (await handlers.run(StartBackup(admin_id=ADMIN_ID, request_id="now-1"))).period == requested.period
    job = BackupJob(db, config.scheduler, database_url, Wakeups(), clock=Clock(datetime(2030, 1, 1, 12, tzinfo=UTC)))
    assert await job.run_due() == [requested.period]
    state = await handlers.state(BackupQuery())
    assert state.state == "done" and state.file_name.endswith(".dump") and state.bytes > 0


async def test_failed_dump_is_recorded_and_retried_later(db, conn, settings) -> None:
    config = settings(backup_hour=0).scheduler
    bad_url = "postgresql://nobody:secret-pw@127.0.0.1:1/none"
    job = BackupJob(db, config, bad_url, Wakeups(), clock=Clock(datetime(2030, 1, 1, 5, tzinfo=UTC)))
    assert await job.run_due() == ["2030-01-01"]
    run = await conn.fetchrow("SELECT state, error, attempts FROM scheduler_job_runs")
    assert run["state"] == "failed" and run["attempts"] == 1 and "secret-pw" not in run["error"]
    assert await job.run_due() == [], "not retried at once"
    assert list(config.backup_dir.glob("*")) == []


def test_password_goes_through_the_environment() -> None:
    dsn, password = split_password("postgresql://atcs:p%40ss@db.example:5433/atcs?sslmode=require")
    assert dsn == "postgresql://atcs@db.example:5433/atcs?sslmode=require" and password == "p@ss"
    assert split_password("postgresql://postgres@127.0.0.1:5432/atcs") == ("postgresql://postgres@127.0.0.1:5432/atcs", None)


async def test_a_run_cut_off_with_its_leader_is_made_when_the_next_one_leads(db, conn, database_url, settings) -> None:
    """A leader whose host died mid-dump left its run 'running': whichever scheduler leads next
    makes it at once (before: only once the run went stale, 31 minutes later); a run that had
    used up its attempts is failed instead of dumped again."""
    config = settings(backup_enabled=False)
    handlers = BackupHandlers(db, config)
    cut_off = await handlers.run(StartBackup(admin_id=ADMIN_ID, request_id="cut-off"))
    spent = await handlers.run(StartBackup(admin_id=ADMIN_ID, request_id="spent"))
    for period in (cut_off.period, spent.period):   # taken by the leader that then died
        assert await job_runs.claim_period(conn, JOB, period, max_attempts=MAX_ATTEMPTS, retry_after=600,
                                           stale_after=1860) is not None
    await conn.execute("UPDATE scheduler_job_runs SET attempts = $2 WHERE period = $1", spent.period, MAX_ATTEMPTS)

    job = BackupJob(db, config.scheduler, database_url, Wakeups())
    leading = asyncio.create_task(job.run())       # what a new leader starts
    try:
        async def made() -> bool:
            return (await handlers.state(BackupQuery(period=cut_off.period))).state == "done"
        await wait_for(made, timeout=30, message="the cut-off backup made by the new leader")
    finally:
        await job.loop.drain(5)
        await leading
    assert [p.name for p in config.scheduler.backup_dir.glob("*.dump")] == [job.last["file"]]
    failed = await handlers.state(BackupQuery(period=spent.period))
    assert failed.state == "failed" and "cut off" in failed.error
    assert await conn.fetchval("SELECT attempts FROM scheduler_job_runs WHERE period = $1", cut_off.period) == 2
