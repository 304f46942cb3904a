"""Deletes export files older than ATCS_EXPORT_KEEP_HOURS: they hold personal data, and the
admin has them in Telegram.

Two ways, because on two hosts the export folder is each host's own: the leader's timed job
deletes the files of finished jobs by their rows, and every scheduler — leader or standby — sweeps
its own folder by age, which reaches the files it wrote while it led (and the one a crash cut off
mid-write) after leadership moved to the other host, where the rows' paths point at nothing."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from common.db.database import Database
from services.scheduler.jobs.outcome import Outcome
from services.scheduler.repositories import exports as repo


async def delete_old_exports(db: Database, *, keep_hours: float) -> Outcome:
    outcome = Outcome()
    async with db.acquire() as conn:
        old = await repo.files_older_than(conn, keep_hours)
    for row in old:
        await asyncio.to_thread(Path(row["file_path"]).unlink, True)
        async with db.acquire() as conn:
            await repo.forget_file(conn, row["id"])
        outcome.deleted_files += 1
    return outcome


def sweep_folder(folder: Path, keep_hours: float) -> list[str]:
    """Deletes the files of `folder` last written more than `keep_hours` ago; returns their names."""
    if not folder.is_dir():
        return []
    cutoff = time.time() - keep_hours * 3600
    removed = []
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path.name)
        except FileNotFoundError:
            continue   # deleted meanwhile (the timed job)
    return removed


async def sweep_forever(folder: Path, keep_hours: float) -> None:
    every = min(3600.0, keep_hours * 900)   # a quarter of the keep time, at most hourly
    while True:
        await asyncio.to_thread(sweep_folder, folder, keep_hours)
        await asyncio.sleep(every)
