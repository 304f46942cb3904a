"""The leader's export worker: one export at a time — COPY into a file, gzip it if it is too big
for Telegram, send it to the admin as a document, keep the admin's progress message current.

A restart never loses an export: a job cut off while writing starts over (its file is
worthless), one cut off while sending sends its finished file again.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.scheduler.settings import SchedulerSettings
from common.db.database import Database
from common.lifecycle.worker import WorkerLoop
from common.telegram.bot_api import BotApi, BotApiError
from common.texts import text
from services.scheduler.export.compress import gzip_file
from services.scheduler.export.document import send_document
from services.scheduler.export.writer import write_export
from services.scheduler.repositories import exports as repo
from services.scheduler.telegram.progress import ProgressMessage
from services.scheduler.telegram.ratelimit import RateLimiter
from services.scheduler.wakeups import Wakeups

log = logging.getLogger(__name__)
RESCAN = 10.0
MAX_ATTEMPTS = 3          # writing (a database error) or sending (Telegram down) before 'failed'
SEND_BACKOFF = 5.0


class ExportFailed(Exception):
    """The export cannot succeed by trying again as it is (too big, refused by Telegram)."""


class ExportWorker:
    def __init__(self, db: Database, api: BotApi, limiter: RateLimiter, settings: SchedulerSettings,
                 wakeups: Wakeups) -> None:
        self.db = db
        self.api = api
        self.limiter = limiter
        self.settings = settings
        self.current: int | None = None
        self._send_failures: dict[int, int] = {}
        self.loop: WorkerLoop[asyncpg.Record] = WorkerLoop(
            "exports", db, claim=self._claim, work=self._work_on, rescan=RESCAN, wake=wakeups.event("export"),
            prepare=self._recover, on_crash=self._put_back)

    def describe(self) -> dict[str, Any]:
        return {"current": self.current}

    async def run(self) -> None:
        await self.loop.run()

    async def _recover(self) -> None:
        async with self.db.transaction() as conn:
            restarted = await repo.recover(conn)
        if restarted:
            log.warning("exports cut off by a restart start over", extra={"exports": restarted})

    async def _claim(self, _limit: int) -> list[asyncpg.Record]:
        async with self.db.transaction() as conn:
            job = await repo.claim(conn)
        return [] if job is None else [job]

    async def _put_back(self, job: asyncpg.Record, exc: BaseException) -> None:
        """Cut off while writing (the database went away): queued again, or only a restart's
        recover() would have found it. One cut off while sending is claimed again as it is."""
        if job["state"] == "running":
            async with self.db.transaction() as conn:
                await repo.retry_later(conn, job["id"], f"{type(exc).__name__}: {exc}"[:300])

    async def _work_on(self, job: asyncpg.Record) -> None:
        self.current = job["id"]
        try:
            await self._process(job)
        finally:
            self.current = None

    async def _process(self, job: asyncpg.Record) -> None:
        progress = None
        if job["progress_chat_id"] is not None and job["progress_message_id"] is not None:
            progress = ProgressMessage(self.api, self.limiter, job["progress_chat_id"], job["progress_message_id"])
        values = {"id": job["id"], "kind": text(job["locale"], f"export.kind.{job['kind']}")}

        async def show(key: str, **more: object) -> None:
            if progress is not None:
                await progress.show(text(job["locale"], key, **values, **more))

        try:
            if job["state"] == "running":
                await show("export.running")
                job = await self._write(job)
            await show("export.sending", rows=job["rows"])
            await self._send(job, caption=text(job["locale"], "export.caption", rows=job["rows"], **values))
        except ExportFailed as exc:
            await self._finish_failed(job, str(exc))
            await show("export.failed", error=str(exc))
            return
        except _Retry as exc:
            if job["attempts"] >= MAX_ATTEMPTS and job["state"] == "running":
                await self._finish_failed(job, str(exc))
                await show("export.failed", error=str(exc))
            return
        async with self.db.transaction() as conn:
            await repo.finish(conn, job["id"], "done")
        self._send_failures.pop(job["id"], None)
        log.info("export sent", extra={"export_id": job["id"], "kind": job["kind"], "rows": job["rows"],
                                       "bytes": job["bytes"]})
        await show("export.done", rows=job["rows"])

    async def _write(self, job: asyncpg.Record) -> asyncpg.Record:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        name = f"{job['kind']}-{job['id']}-{stamp}.csv"
        path = self.settings.export_dir / name
        try:
            rows, size = await write_export(self.db, job["kind"], path, self.settings.export_timeout,
                                            self.settings.export_rate_mb)
        except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
            # DatabaseUnavailable passes through: the loop's on_crash queues the job again.
            async with self.db.transaction() as conn:
                await repo.retry_later(conn, job["id"], f"{type(exc).__name__}: {exc}"[:300])
            log.warning("export could not be written", extra={"export_id": job["id"], "error": type(exc).__name__})
            raise _Retry(f"{type(exc).__name__}") from None
        if size > self.settings.export_max_upload_mb * 1024 * 1024:
            path, size = await gzip_file(path)
            name = path.name
        async with self.db.transaction() as conn:
            await repo.written(conn, job["id"], rows, size, name, str(path))
            return await repo.get(conn, job["id"])

    async def _send(self, job: asyncpg.Record, caption: str) -> None:
        path = Path(job["file_path"])
        if not await asyncio.to_thread(path.exists):
            async with self.db.transaction() as conn:  # deleted under us: make it again
                await repo.retry_later(conn, job["id"], "the export file was gone before it was sent")
            raise _Retry("file gone")
        if job["bytes"] > self.settings.export_max_upload_mb * 1024 * 1024:
            raise ExportFailed(f"{job['bytes'] // (1024 * 1024)} MB even gzipped: too big for Telegram "
                               f"(kept on the server as {job['file_name']})")
        try:
            await send_document(self.api, self.limiter, job["chat_id"], path, job["file_name"], caption,
                                self.settings.export_upload_timeout)
        except BotApiError as exc:
            if exc.status == 429:
                self.limiter.pause(exc.retry_after or 1.0)
                raise _Retry("429") from None
            failures = self._send_failures.get(job["id"], 0) + 1
            self._send_failures[job["id"]] = failures
            if not exc.transient or failures >= MAX_ATTEMPTS:
                raise ExportFailed(f"Telegram: {exc.description}"[:300]) from None
            log.warning("export not sent yet", extra={"export_id": job["id"], "error": exc.description})
            await asyncio.sleep(SEND_BACKOFF * failures)
            raise _Retry(exc.description) from None

    async def _finish_failed(self, job: asyncpg.Record, error: str) -> None:
        log.error("export failed", extra={"export_id": job["id"], "error": error})
        self._send_failures.pop(job["id"], None)
        async with self.db.transaction() as conn:
            await repo.finish(conn, job["id"], "failed", error)


class _Retry(Exception):
    """Try this job again later (it stays queued or sending)."""
