"""Two hosts, one scheduler leader (issue 15): two scheduler processes over one PostgreSQL, each
with its own run, export and backup folders as on two machines. The leader's host dies — SIGKILL to
its whole process group, so the scheduler and its pg_dump go at once — in the middle of a broadcast
to thousands of users, of a large export and of a backup. The standby leads within 10 s and takes
every job up where it was:

- the broadcast goes on from where it stopped: every recipient gets the message. The only messages
  that can arrive twice are the rows in doubt: claimed by the dead leader and not yet recorded as
  sent — sent (or in flight) in the last flush interval before the kill. The scheduler counts them
  (in_doubt) and the test checks each duplicate at the stand-in is one of them;
- the export, cut off while its file was being written on the dead host, is written again on the
  standby's host and delivered once;
- the backup, cut off while pg_dump ran, is made once, on the standby's host, at once (not when its
  run would have gone stale half an hour later).
"""
from __future__ import annotations

import collections
import csv
import io
import os
import signal
import time
from pathlib import Path

import asyncpg
import pytest

from common.contract.scheduler import (BACKUP_STATE, BROADCAST_STATE, EXPORT_STATE, RUN_BACKUP, START_BROADCAST,
                                       START_EXPORT, BackupQuery, BroadcastQuery, ExportQuery, StartBackup,
                                       StartBroadcast, StartExport)
from sandbox.telegram import TelegramStandIn
from services.scheduler.broadcast.pace import pace
from services.scheduler.settings import SchedulerSettings
from tests.scheduler.process import ADMIN_ID, SchedulerProcess
from tests.scheduler.seed import add_users
from tests.scheduler.test_broadcast_process import achieved_rate, deliveries
from tests.support.wait import GiveUp, wait_for

RECIPIENTS, CAP = 2_000, 100.0         # the broadcast: 20 s at its cap, to German speakers only
BULK = 40_000                          # more users, so the users export is ~5 MB ...
EXPORT_MB_S = 0.5                      # ... written at 0.5 MB/s: ~10 s, long enough to be cut off
TAKEOVER_BOUND = 10.0
FLUSH_ALLOWANCE = 1.0                  # seconds of sending a loaded machine may leave unwritten
# A table none of these jobs touches: held locked, it keeps pg_dump waiting (a backup in progress).
LOCKED_TABLE = "payment_refunds"


def _host(tmp_path: Path, name: str) -> dict[str, str]:
    return {"ATCS_EXPORT_DIR": str(tmp_path / name / "exports"), "ATCS_BACKUP_DIR": str(tmp_path / name / "backups"),
            "ATCS_BROADCAST_RATE": str(CAP), "ATCS_EXPORT_RATE_MB": str(EXPORT_MB_S),
            # the shipped intervals: the takeover measured is the one an operator gets
            "ATCS_LEADER_RETRY_INTERVAL": "2", "ATCS_LEADER_CHECK_INTERVAL": "2"}


def _kill_host(process: SchedulerProcess) -> None:
    """Every process of the scheduler's group (it runs in a session of its own): a dead machine."""
    os.killpg(process.pid, signal.SIGKILL)
    process.process.wait(10)


async def _leader_since(process: SchedulerProcess) -> float | None:
    status = await process.status()
    leader = (status or {}).get("details", {}).get("leader", {})
    ready = status is not None and "database" not in status["details"]["not_ready"]
    return leader.get("since") if ready and leader.get("role") == "leader" else None


async def _standby_behind_leader(process: SchedulerProcess) -> bool:
    status = await process.status()
    leader = (status or {}).get("details", {}).get("leader", {})
    return (status is not None and "database" not in status["details"]["not_ready"]
            and leader.get("role") == "standby" and "another scheduler is leader" in (leader.get("reason") or ""))


@pytest.mark.timeout(300)
async def test_standby_takes_over_mid_broadcast_export_and_backup(
        database_url: str, conn: asyncpg.Connection, standin: TelegramStandIn, scheduler_factory,
        tmp_path: Path) -> None:
    await standin.set_limits(global_rate=CAP * 1.2, global_burst=CAP * 1.2)
    recipients = await add_users(conn, 4_000_000, RECIPIENTS, language="de")
    await add_users(conn, 5_000_000, BULK)
    a, b = scheduler_factory(_host(tmp_path, "a")), scheduler_factory(_host(tmp_path, "b"))
    a.start()
    await wait_for(lambda: _leader_since(a), timeout=30, message="host A's scheduler leads")
    b.start()
    await wait_for(lambda: _standby_behind_leader(b), timeout=30, message="host B's scheduler a standby")

    # The admin console reaches either scheduler: these go through the standby and the leader does them.
    broadcast = await b.client().call(START_BROADCAST, StartBroadcast(
        admin_id=ADMIN_ID, request_id="two-hosts", text="ATCS: new servers in Frankfurt", language="de"))

    async def a_quarter_sent() -> bool:
        return len(deliveries(await standin.calls("sendMessage"))) >= RECIPIENTS // 4
    await wait_for(a_quarter_sent, timeout=60, message="a quarter of the broadcast sent")

    locker = await asyncpg.connect(database_url)
    locked = locker.transaction()
    await locked.start()
    try:
        await locker.execute(f"LOCK TABLE {LOCKED_TABLE} IN ACCESS EXCLUSIVE MODE")
        export = await b.client().call(START_EXPORT, StartExport(admin_id=ADMIN_ID, request_id="two-hosts",
                                                                 kind="users"))
        backup = await b.client().call(RUN_BACKUP, StartBackup(admin_id=ADMIN_ID, request_id="two-hosts"))
        a_exports = tmp_path / "a" / "exports"

        async def all_three_in_progress() -> bool:
            job = await conn.fetchrow("SELECT state, attempts FROM export_jobs WHERE id = $1", export.export_id)
            writing = job["state"] == "running" and any(p.stat().st_size > 0 for p in a_exports.glob("users-*.csv"))
            run = await conn.fetchrow("SELECT state, attempts FROM scheduler_job_runs WHERE period = $1",
                                      backup.period)
            dumping = run["state"] == "running" and await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock'")
            return writing and bool(dumping)
        await wait_for(all_three_in_progress, timeout=30, message="export written and pg_dump running on host A")

        killed_at = time.time()
        _kill_host(a)
        at_kill = await conn.fetchrow(
            """SELECT count(*) FILTER (WHERE state = 'sent') AS recorded,
                      count(*) FILTER (WHERE state IN ('pending', 'sending')) AS open
               FROM broadcast_recipients WHERE broadcast_id = $1""", broadcast.broadcast_id)
        delivered_at_kill = len(deliveries(await standin.calls("sendMessage")))
        assert at_kill["open"] > 0 and delivered_at_kill < RECIPIENTS, "killed in the middle of the broadcast"

        since = await wait_for(lambda: _leader_since(b), timeout=TAKEOVER_BOUND + 5, message="host B leads")
        takeover = since - killed_at

        async def backup_taken_again() -> bool:
            run = await conn.fetchrow("SELECT state, attempts FROM scheduler_job_runs WHERE period = $1", backup.period)
            return run["state"] == "running" and run["attempts"] == 2
        await wait_for(backup_taken_again, timeout=15, message="host B takes the cut-off backup again")
    finally:
        await locked.rollback()     # pg_dump may go on now
        await locker.close()

    async def finished(method, query, state_of) -> object:
        current = await b.client().call(method, query)
        if current.state == "failed":
            raise GiveUp(f"failed: {current}")
        return current if state_of(current) else None
    final = await wait_for(lambda: finished(BROADCAST_STATE, BroadcastQuery(broadcast_id=broadcast.broadcast_id),
                                            lambda s: s.state == "done"),
                           timeout=RECIPIENTS / CAP + 60, interval=0.5, message="broadcast done on host B")
    exported = await wait_for(lambda: finished(EXPORT_STATE, ExportQuery(export_id=export.export_id),
                                               lambda s: s.state == "done"),
                              timeout=90, interval=0.5, message="export done on host B")
    backed_up = await wait_for(lambda: finished(BACKUP_STATE, BackupQuery(period=backup.period),
                                                lambda s: s.state == "done"),
                               timeout=60, interval=0.5, message="backup done on host B")

    calls = await standin.calls("sendMessage")
    after = sorted(c["time"] for c in deliveries(calls) if c["time"] > since)
    per_chat = collections.Counter(int(c["params"]["chat_id"]) for c in deliveries(calls))
    twice = {chat for chat, n in per_chat.items() if n > 1}
    in_doubt = {r["user_id"] for r in await conn.fetch(
        "SELECT user_id FROM broadcast_recipients WHERE broadcast_id = $1 AND attempts > 1", broadcast.broadcast_id)}
    resumed = after[0] - since if after else float("nan")
    print(f"\nscheduler takeover: host B leads {takeover:.2f}s after host A died (kill -9 of its process group); "
          f"broadcast of {RECIPIENTS} at {CAP:.0f}/s: {delivered_at_kill} delivered at the kill "
          f"({at_kill['recorded']} recorded), resumed {resumed:.2f}s after B led, in doubt {final.in_doubt}, "
          f"received twice {len(twice)}, overall {achieved_rate(calls):.1f}/s; export {exported.rows} rows "
          f"({exported.bytes / 1e6:.1f} MB) sent once; backup {backed_up.file_name} ({backed_up.bytes} bytes)")

    assert takeover < TAKEOVER_BOUND
    # The broadcast: everyone once, except rows in doubt; nothing already recorded went again.
    assert set(per_chat) == set(recipients), "every recipient got the message"
    assert max(per_chat.values()) <= 2
    assert twice <= in_doubt, "only a message sent but not yet recorded at the kill is sent again"
    assert final.in_doubt == len(in_doubt)
    # In doubt: at most the claimed rows not yet sent, the requests in flight and those answered
    # since the last write of outcomes (pace.py) — well under a couple of seconds of sending.
    free = pace(SchedulerSettings(broadcast_rate=CAP), paid=False)
    assert final.in_doubt <= free.claim_size + CAP * (free.flush_every + FLUSH_ALLOWANCE), final.in_doubt
    assert final.sent == RECIPIENTS and final.remaining == 0
    assert not [c for c in calls if c["status"] == 429]
    # The export: cut off on A, written again on B, delivered once with every row.
    documents = [m["document"] for m in await standin.transcript(ADMIN_ID)
                 if m.get("document") and m["document"]["filename"].startswith("users-")]
    assert len(documents) == 1, documents
    rows = list(csv.reader(io.StringIO((await standin.file_bytes(documents[0]["file_id"])).decode())))
    assert exported.rows == RECIPIENTS + BULK and len(rows) == RECIPIENTS + BULK + 1
    job = await conn.fetchrow("SELECT attempts, file_path FROM export_jobs WHERE id = $1", export.export_id)
    assert job["attempts"] == 2 and Path(job["file_path"]).parent == tmp_path / "b" / "exports"
    # The backup: one dump, made on B; A left only its unfinished .partial.
    dumps = sorted(tmp_path.glob("*/backups/atcs-*.dump"))
    assert [d.parent.parent.name for d in dumps] == ["b"] and dumps[0].name == backed_up.file_name
    assert dumps[0].read_bytes()[:5] == b"PGDMP"
    assert [p.name.endswith(".partial") for p in (tmp_path / "a" / "backups").iterdir()] == [True]

