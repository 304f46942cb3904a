"""Item 5 and 6 for the long jobs: CSV export goes to the scheduler (which sends the document
itself), bulk reissue to vpn_gateway with a confirmation, a progress screen refreshed on demand
and cancel (contract doubles)."""
from __future__ import annotations

import asyncpg
import pytest

from tests.bot.admin_support import AdminPerson, seed_subscription, seed_user
from tests.bot.chat import labels
from tests.support.wait import wait_for


@pytest.fixture
async def db(database_url):
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def test_export_is_started_in_the_scheduler(bot, standin, scheduler, db):
    admin = AdminPerson(standin)
    home = await admin.console()
    screen = await admin.press("📤 CSV export", home["message_id"], "what should be exported")
    assert labels(screen) == ["Users", "Subscriptions", "Payments", "⬅️ Admin console"]
    await admin.press("Payments", home["message_id"], "Export of Payments requested")
    # The message is shown before the request is sent (the scheduler edits it from then on).
    await wait_for(lambda: bool(scheduler.requests), timeout=5, message="the export request")
    (method, request), = scheduler.requests
    assert method == "start_export" and request.kind == "payments" and request.admin_id == admin.id
    assert (request.progress.chat_id, request.progress.message_id) == (admin.id, home["message_id"])
    assert request.request_id.startswith("ex:")
    assert await db.fetchval("SELECT action FROM admin_audit") == "export_start"   # the scheduler's row


async def test_bulk_reissue_confirm_progress_cancel(bot, standin, vpn, db):
    for user_id in (8601, 8602, 8603):
        await seed_user(db, user_id)
        await seed_subscription(db, user_id, key=user_id != 8603)
    admin = AdminPerson(standin)
    home = await admin.console()
    mid = home["message_id"]
    confirm = await admin.press("♻️ Bulk reissue", mid, "Every active user (2 now)")
    assert labels(confirm) == ["⚠️ Yes, reissue every key", "⬅️ Admin console"]
    assert "bulk_reissue" not in vpn.calls                 # nothing before the confirmation
    progress = await admin.press("⚠️ Yes, reissue every key", mid, "Bulk reissue #1")
    assert "Done 0 of 2, failed 0, left 2" in progress["text"]
    (method, request), = vpn.requests
    assert method == "bulk_reissue" and request.admin_id == admin.id and request.request_id.startswith("bulk:")

    vpn.bulk_jobs[1].update(done=1)                        # vpn_gateway works on it meanwhile
    await admin.press("🔄 Refresh", mid, "Done 1 of 2, failed 0, left 1")
    toast = await admin.toast("✖️ Cancel the job", message_id=mid)
    assert toast.startswith("Job #1 cancelled")
    shown = await admin.wait_screen(mid, "cancelled")
    assert labels(shown) == ["🔄 Refresh", "⬅️ Admin console"]
    assert vpn.calls.count("bulk_reissue_cancel") == 1
    actions = [r["action"] for r in await db.fetch("SELECT action FROM admin_audit ORDER BY id")]
    assert actions == ["bulk_reissue", "bulk_reissue_cancel"]   # start by vpn_gateway, cancel by the bot
