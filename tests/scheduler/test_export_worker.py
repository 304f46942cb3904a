"""The export worker in-process: every kind, retries when Telegram is down, a clear failure when
Telegram refuses, resuming an export whose file was written before a crash, old files deleted."""
from __future__ import annotations

import asyncio
import csv
import io
import os
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from common.contract.scheduler import ExportQuery, MessageRef, StartExport
from common.ipc import RpcError
from common.telegram.bot_api import BotApi
from services.scheduler.export.worker import ExportWorker
from services.scheduler.export.writer import FileSink
from services.scheduler.jobs.export_cleanup import delete_old_exports, sweep_folder
from services.scheduler.rpc.exports import ExportHandlers
from services.scheduler.telegram.ratelimit import RateLimiter
from services.scheduler.wakeups import Wakeups
from tests.scheduler.conftest import TOKEN
from tests.scheduler.process import ADMIN_ID
from tests.scheduler.seed import add_subscription, add_user
from tests.scheduler.test_broadcast_process import admin_message
from tests.support.wait import wait_for


@asynccontextmanager
async def running_worker(db, standin, config):
    wakeups = Wakeups()
    api = BotApi(standin.url, TOKEN, timeout=5, connections=4)
    worker = ExportWorker(db, api, RateLimiter(100, 0.0), config, wakeups)
    task = asyncio.create_task(worker.run())
    try:
        yield wakeups
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.close()


async def _finished(handlers: ExportHandlers, export_id: int, timeout: float = 20):
    async def done():
        state = await handlers.state(ExportQuery(export_id=export_id))
        return state if state.state in ("done", "failed") else None
    return await wait_for(done, timeout=timeout, interval=0.05, message="export finished")


async def _document(standin, name_prefix: str) -> list[list[str]]:
    message = next(m for m in await standin.transcript(ADMIN_ID)
                   if m["document"] and m["document"]["filename"].startswith(name_prefix))
    return list(csv.reader(io.StringIO((await standin.file_bytes(message["document"]["file_id"])).decode())))


async def test_each_kind_exports_in_utc_with_a_header(db, conn, standin, settings) -> None:
    await add_user(conn, 1, balance=Decimal("2.50"))
    await add_subscription(conn, 1, datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC), auto_renew=True)
    await conn.execute("""INSERT INTO purchases (user_id, plan_id, kind, method, amount, currency, status)
                          VALUES (1, 1, 'subscription', 'cryptobot', 3.00, 'USD', 'paid')""")
    await conn.execute("SET TIME ZONE 'Asia/Tokyo'")   # the export must not depend on a session's zone
    config = settings()
    handlers = ExportHandlers(db, config)
    async with running_worker(db, standin, config.scheduler) as wakeups:
        ids = {}
        for kind in ("users", "subscriptions", "payments"):
            ids[kind] = (await handlers.start(StartExport(admin_id=ADMIN_ID, request_id=kind, kind=kind))).export_id
            wakeups.fire("export")
        for kind, export_id in ids.items():
            assert (await _finished(handlers, export_id)).state == "done"
    users = await _document(standin, "users-")
    assert users[0][:2] == ["id", "username"] and users[1][8] == "2.50"
    subscriptions = await _document(standin, "subscriptions-")
    assert subscriptions[1][3] == "2031-05-06 07:08:09+00" and subscriptions[1][6] == "month_1"
    payments = await _document(standin, "payments-")
    assert payments[1][1:8] == ["1", "subscription", "cryptobot", "month_1", "3.00", "USD", "paid"]
    assert oct(os.stat(config.scheduler.export_dir).st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in config.scheduler.export_dir.iterdir())


async def test_telegram_down_is_retried_and_a_refusal_fails_clearly(db, conn, standin, settings, monkeypatch) -> None:
    await add_user(conn, 1)
    config = settings()
    handlers = ExportHandlers(db, config)
    progress = await admin_message(standin, "Export…")
    monkeypatch.setattr("services.scheduler.export.worker.SEND_BACKOFF", 0.01)
    await standin.add_fault("sendDocument", status=502, count=1)
    async with running_worker(db, standin, config.scheduler) as wakeups:
        retried = await handlers.start(StartExport(admin_id=ADMIN_ID, request_id="a", kind="users"))
        wakeups.fire("export")
        assert (await _finished(handlers, retried.export_id)).state == "done"
        await standin.add_fault("sendDocument", status=400, description="Bad Request: chat not found", count=1)
        refused = await handlers.start(StartExport(admin_id=ADMIN_ID, request_id="b", kind="users",
                                                   progress=MessageRef(chat_id=ADMIN_ID, message_id=progress)))
        wakeups.fire("export")
        failed = await _finished(handlers, refused.export_id)
    assert failed.state == "failed" and "chat not found" in failed.error

    async def shown():
        message = next(m for m in await standin.transcript(ADMIN_ID) if m["message_id"] == progress)
        return "failed" in message["text"]
    await wait_for(shown, timeout=5, message="progress shows the failure")


async def test_an_export_written_before_a_crash_is_sent_not_remade(db, conn, standin, settings) -> None:
    config = settings()
    path = config.scheduler.export_dir / "users-1-x.csv"
    path.parent.mkdir(parents=True)
    path.write_text("id\n42\n")
    await conn.execute(
        """INSERT INTO export_jobs (admin_id, request_id, kind, chat_id, state, attempts, rows, bytes, file_name, file_path)
           VALUES ($1, 'r', 'users', $1, 'sending', 1, 1, 6, 'users-1-x.csv', $2)""", ADMIN_ID, str(path))
    handlers = ExportHandlers(db, config)
    async with running_worker(db, standin, config.scheduler):
        assert (await _finished(handlers, 1)).state == "done"
    assert await _document(standin, "users-1-x") == [["id"], ["42"]]



async def test_an_export_written_on_a_dead_host_is_made_again_here_and_sent_once(db, conn, standin, settings) -> None:
    """Two hosts: the leader that wrote the file died before sending it; the file is on its disk,
    out of this host's reach. The new leader writes the export again and sends it once."""
    await add_user(conn, 7)
    config = settings()
    elsewhere = "/srv/host-a/exports/users-1-x.csv"      # the dead host's folder: not on this one
    await conn.execute(
        """INSERT INTO export_jobs (admin_id, request_id, kind, chat_id, state, attempts, rows, bytes, file_name, file_path)
           VALUES ($1, 'r', 'users', $1, 'sending', 1, 1, 6, 'users-1-x.csv', $2)""", ADMIN_ID, elsewhere)
    handlers = ExportHandlers(db, config)
    async with running_worker(db, standin, config.scheduler):
        assert (await _finished(handlers, 1)).state == "done"
    documents = [m for m in await standin.transcript(ADMIN_ID) if m["document"]]
    assert len(documents) == 1 and documents[0]["document"]["filename"] != "users-1-x.csv"
    assert [row[0] for row in await _document(standin, "users-1-")] == ["id", "7"]
    job = await conn.fetchrow("SELECT attempts, file_path FROM export_jobs WHERE id = 1")
    assert job["attempts"] == 2 and Path(job["file_path"]).parent == config.scheduler.export_dir

async def test_old_export_files_are_deleted(db, conn, settings, tmp_path) -> None:
    old, fresh = tmp_path / "old.csv", tmp_path / "fresh.csv"
    old.write_text("x")
    fresh.write_text("x")
    for request_id, path, age in (("old", old, 30), ("fresh", fresh, 1)):
        await conn.execute(
            """INSERT INTO export_jobs (admin_id, request_id, kind, chat_id, state, file_path, finished_at)
               VALUES (1, $1, 'users', 1, 'done', $2, $3)""",
            request_id, str(path), datetime.now(UTC) - timedelta(hours=age))
    outcome = await delete_old_exports(db, keep_hours=24)
    assert outcome.deleted_files == 1 and not old.exists() and fresh.exists()
    assert await conn.fetchval("SELECT file_path FROM export_jobs WHERE request_id = 'old'") is None



def test_every_scheduler_sweeps_its_own_export_folder_by_age(tmp_path) -> None:
    """On two hosts each has its own export folder: a file written while this host led, or cut off
    mid-write when it died, is out of reach of the other leader's cleanup (which goes by the jobs'
    rows, on its own disk). Every scheduler deletes its own files older than the keep time."""
    folder = tmp_path / "exports"
    folder.mkdir()
    sent, cut_off, fresh = folder / "users-1.csv", folder / "users-2.csv", folder / "payments-3.csv"
    for path in (sent, cut_off, fresh):
        path.write_text("id\n1\n")
    day_ago = time.time() - 25 * 3600
    for path in (sent, cut_off):
        os.utime(path, (day_ago, day_ago))
    assert sorted(sweep_folder(folder, keep_hours=24)) == ["users-1.csv", "users-2.csv"]
    assert [p.name for p in folder.iterdir()] == ["payments-3.csv"]
    assert sweep_folder(tmp_path / "never-made", keep_hours=24) == []

async def test_export_requests_are_checked(db, settings) -> None:
    handlers = ExportHandlers(db, settings())
    first = await handlers.start(StartExport(admin_id=ADMIN_ID, request_id="x", kind="users"))
    assert (await handlers.start(StartExport(admin_id=ADMIN_ID, request_id="x", kind="users"))).export_id == first.export_id
    with pytest.raises(RpcError) as conflict:
        await handlers.start(StartExport(admin_id=ADMIN_ID, request_id="x", kind="payments"))
    assert conflict.value.code == "conflict"
    with pytest.raises(RpcError) as forbidden:
        await handlers.start(StartExport(admin_id=7, request_id="y", kind="users"))
    assert forbidden.value.code == "forbidden"


async def test_the_stream_is_paced(tmp_path) -> None:
    sink = FileSink(tmp_path / "paced.csv", rate=4 * 1024 * 1024)
    await sink.open()
    started = time.monotonic()
    for _ in range(8):
        await sink.write(b"x" * (256 * 1024))                     # 2 MiB at 4 MiB/s
    await sink.close()
    assert time.monotonic() - started >= 0.45
    assert (tmp_path / "paced.csv").stat().st_size == 2 * 1024 * 1024
