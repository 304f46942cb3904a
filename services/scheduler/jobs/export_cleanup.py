"""Deletes export files older than ATCS_EXPORT_KEEP_HOURS: they hold personal data, and the
admin has them in Telegram."""
from __future__ import annotations

import asyncio
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
