"""Small pieces of the admin console: callback data sizes, supervisord unreachable, the
repeated-request guard of the audit log."""
from __future__ import annotations

import time

import asyncpg

from common.contract.scheduler import broadcast_callback, parse_broadcast_callback
from services.bot.callbacks import (
    AdminBroadcastAction, AdminBroadcastCb, AdminBulkAction, AdminBulkCb, AdminCb, AdminExportCb, AdminScreen,
    AdminUserAction, AdminUserCb,
)
from services.bot.repositories import admin_audit
from services.bot.supervisor_state import SupervisorUnreachable, read_processes

BIG = 2 ** 63 - 1
NONCE = "A" * 8   # secrets.token_urlsafe(6)


def test_admin_callback_data_fits_64_bytes_at_its_largest():
    longest = max(AdminUserAction, key=lambda a: len(a.value))
    samples = [AdminCb(to=max(AdminScreen, key=lambda s: len(s.value))),
               AdminUserCb(action=longest, user=BIG, nonce=NONCE, arg=BIG),
               AdminBroadcastCb(action=max(AdminBroadcastAction, key=lambda a: len(a.value)), nonce=NONCE,
                                audience="never_subscribed"),
               AdminExportCb(kind="subscriptions", nonce=NONCE),
               AdminBulkCb(action=max(AdminBulkAction, key=lambda a: len(a.value)), nonce=NONCE, job=BIG)]
    for sample in samples:
        assert len(sample.pack().encode()) <= 64, sample
    assert len(broadcast_callback("resume", BIG).encode()) <= 64
    assert parse_broadcast_callback(broadcast_callback("cancel", 12)) == ("cancel", 12)


def test_supervisor_unreachable_is_reported_quickly(tmp_path):
    started = time.monotonic()
    try:
        read_processes(tmp_path / "missing.sock", timeout=1.0)
    except SupervisorUnreachable as exc:
        assert "FileNotFoundError" in str(exc)
    else:
        raise AssertionError("expected SupervisorUnreachable")
    assert time.monotonic() - started < 1.0


async def test_audit_with_request_id_is_written_once(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        assert await admin_audit.record(conn, 1, "reissue", "user:5", {"x": 1}, request_id="r1") is True
        assert await admin_audit.record(conn, 1, "reissue", "user:5", {"x": 1}, request_id="r1") is False
        assert await admin_audit.record(conn, 1, "ban", "user:5") is True
        assert await admin_audit.record(conn, 1, "ban", "user:5") is True      # no request_id: each is an action
        rows = await admin_audit.recent(conn)
        assert [r.action for r in rows] == ["ban", "ban", "reissue"] and rows[-1].detail["request_id"] == "r1"
    finally:
        await conn.close()
