"""The console against the real scheduler (its `setup` in this event loop, as the bot's; see
ServiceInProcess): the broadcast goes out from the scheduler, which edits the admin's progress
message with the contract's buttons; the bot turns the cancel button into CANCEL_BROADCAST. The
CSV export arrives as a document the scheduler sends itself."""
from __future__ import annotations

import asyncpg
import pytest

from tests.bot.admin_support import AdminPerson, seed_user
from tests.bot.chat import buttons, labels
from tests.bot.conftest import ServiceInProcess
from tests.support.wait import wait_for

RECIPIENTS = (8901, 8902, 8903, 8904)


@pytest.fixture
async def stack(start_bot, tmp_path, database_url):
    from services.scheduler.settings import Settings

    scheduler_app = pytest.importorskip("services.scheduler.app")
    env = {"ATCS_BROADCAST_RATE": "0.5",                  # one message every 2 s: time to cancel
           "ATCS_BROADCAST_CHAT_INTERVAL": "0", "ATCS_BROADCAST_PROGRESS_INTERVAL": "0.3",
           "ATCS_EXPORT_DIR": str(tmp_path / "exports"), "ATCS_BACKUP_DIR": str(tmp_path / "backups"),
           "ATCS_BACKUP_ENABLED": "false"}
    await start_bot(**env)
    scheduler = ServiceInProcess("scheduler", Settings.read(), scheduler_app.setup)   # the same environment
    await scheduler.start()
    await wait_for(scheduler.ready, timeout=15, message="scheduler ready (leader)")
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()
    await scheduler.stop()


async def test_broadcast_cancel_and_export_through_the_real_scheduler(stack, standin):
    db = stack
    for user_id in RECIPIENTS:
        await seed_user(db, user_id)
    admin = AdminPerson(standin)
    home = await admin.console()
    await admin.press("📣 Broadcast", home["message_id"], "Send the message to broadcast")
    after = await admin.last_id()
    await standin.user_message(admin.id, "Maintenance tonight")
    confirm = await admin.reply(after, "This is how the message will look")
    await admin.tap("✅ Send the broadcast", message_id=confirm["message_id"])

    progress = await admin.wait_screen(confirm["message_id"], "Broadcast #1: sending", timeout=15)
    assert "bcast:cancel:1" in [b["callback_data"] for b in buttons(progress)]
    toast = await admin.toast("✖️ Cancel broadcast", message_id=confirm["message_id"])
    assert toast == "Broadcast #1: cancelled"
    final = await admin.wait_screen(confirm["message_id"], "Broadcast #1: cancelled", timeout=15)
    assert buttons(final) == []
    got = [uid for uid in RECIPIENTS if await standin.transcript(uid)]
    assert len(got) < len(RECIPIENTS)                       # cancelled before the end
    actions = [r["action"] for r in await db.fetch("SELECT action FROM admin_audit ORDER BY id")]
    assert actions == ["broadcast_start", "broadcast_cancel"]

    home = await admin.console()
    after = await admin.last_id()
    screen = await admin.press("📤 CSV export", home["message_id"], "what should be exported")
    assert "Users" in labels(screen)
    await admin.tap("Users", message_id=home["message_id"])
    document = await standin.wait_for_message(admin.id, lambda m: m["document"] is not None, after=after,
                                              timeout=20)
    csv = (await standin.file_bytes(document["document"]["file_id"])).decode()
    assert all(str(uid) in csv for uid in RECIPIENTS)
    await admin.wait_screen(home["message_id"], "rows, sent", timeout=10)
