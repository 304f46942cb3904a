"""Item 5 service status and audit log, item 8 FATAL alerts.

A real supervisord (with the real ops/fatal_listener.py as its event listener) runs two small
programs: one stays RUNNING, one exits at once and ends FATAL. The admin gets the FATAL alert in
Telegram, and the status screen shows each service's STATUS over ZeroMQ and supervisord's
process states from its XML-RPC socket; when supervisord is gone the screen says so.
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from common.paths import REPO_ROOT
from tests.bot.admin_support import AdminPerson
from tests.bot.processes import service_env
from tests.support.wait import wait_for

CONFIG = """
[unix_http_server]
file={dir}/sv.sock
chmod=0700

[supervisord]
logfile={dir}/supervisord.log
pidfile={dir}/supervisord.pid
childlogdir={dir}
directory={repo}
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:sleeper]
command=/bin/sleep 300
startsecs=0
autorestart=false

[program:crasher]
command=/bin/false
startsecs=1
startretries=0
autorestart=false

[eventlistener:fatal_alerts]
command={python} -m ops.fatal_listener
directory={repo}
events=PROCESS_STATE_FATAL
stderr_logfile={dir}/fatal_alerts.log
"""


@pytest.fixture
def supervisord(run_dir: Path, database_url: str) -> Iterator[subprocess.Popen]:
    conf = run_dir / "supervisord.conf"
    conf.write_text(CONFIG.format(dir=run_dir, repo=REPO_ROOT, python=sys.executable))
    binary = Path(sys.executable).parent / "supervisord"
    process = subprocess.Popen([str(binary), "-c", str(conf)], env=service_env(ATCS_DATABASE_URL=database_url),
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    yield process
    if process.poll() is None:
        process.terminate()
        process.wait(15)


@pytest.fixture
async def db(database_url):
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def test_fatal_alert_and_status_screen_with_supervisord(supervisord, run_dir, start_bot, standin):
    await start_bot(ATCS_SUPERVISOR_SOCKET=str(run_dir / "sv.sock"))
    admin = AdminPerson(standin)

    # Item 8: supervisord → ops/fatal_listener.py → admin_alerts → the bot's sender → the admin.
    alert = await standin.wait_for_message(admin.id, lambda m: "crasher" in (m["text"] or ""), timeout=30)
    assert "crasher:crasher</b> is down" in alert["html"] and "FATAL" in alert["text"]
    assert "it was BACKOFF" in alert["text"] and " UTC" in alert["text"]

    home = await admin.console()
    screen = await admin.press("🩺 Service status", home["message_id"], "supervisord", timeout=10)
    text = screen["text"]
    assert "✅ bot — ready, up" in text                                  # its own STATUS, over ZeroMQ
    for absent in ("payments", "scheduler", "vpn_gateway"):
        assert f"❌ {absent} — not answering (deadline_exceeded)" in text
    assert "✅ sleeper — RUNNING (pid" in text
    assert "❌ crasher — FATAL" in text

    supervisord.terminate()
    supervisord.wait(15)
    await admin.tap("🔄 Refresh", message_id=home["message_id"])
    shown = await admin.wait_screen(home["message_id"], "supervisord is not reachable", timeout=10)
    assert str(run_dir / "sv.sock") in shown["text"]


async def test_listener_row_reaches_admins_with_program_and_time(bot, standin, db):
    # Exactly the row ops/fatal_listener.py writes for a program entering FATAL.
    await db.execute(
        """INSERT INTO admin_alerts (kind, subject, detail, created_at)
           VALUES ('process_fatal', 'atcs:payments', $1::jsonb, '2031-02-03 04:05:00+00')""",
        '{"processname": "payments", "groupname": "atcs", "from_state": "BACKOFF"}')
    admin = AdminPerson(standin)
    alert = await standin.wait_for_message(admin.id, timeout=10)
    assert alert["text"].startswith("🚨 atcs:payments is down: supervisord gave up restarting it")
    assert "(state FATAL, it was BACKOFF) at 2031-02-03 04:05 UTC" in alert["text"]
    assert "supervisorctl start atcs:payments" in alert["text"]
    await wait_for(lambda: db.fetchval("SELECT sent_at IS NOT NULL FROM admin_alerts"), message="alert marked sent")


async def test_audit_log_lists_every_writer_newest_first(bot, standin, db):
    await db.execute("""INSERT INTO users (id, referral_code) VALUES (8801, 'a8801')""")
    await db.execute("""INSERT INTO admin_audit (admin_id, action, target, detail)
                        VALUES (999001, 'broadcast_start', 'broadcast:4', '{"audience": "all"}')""")
    admin = AdminPerson(standin)
    card = await admin.say("/user 8801", expect="User 8801")
    await admin.toast("⛔ Ban", message_id=card["message_id"])
    home = await admin.console()
    screen = await admin.press("📜 Audit log", home["message_id"], "Audit log")
    lines = screen["text"].splitlines()
    assert "ban · user:8801" in lines[1] and "999001" in lines[1]
    assert 'broadcast_start · broadcast:4 {"audience":"all"}' in lines[2]
