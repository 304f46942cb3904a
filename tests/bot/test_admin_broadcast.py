"""Item 5 broadcast and item 6 routing: compose → preview → confirm → START_BROADCAST to the
scheduler (with the confirmation as its progress message) → the contract's cancel button →
CANCEL_BROADCAST. The bot sends nothing to users itself."""
from __future__ import annotations

import asyncpg
import pytest

from common.contract.scheduler import broadcast_callback
from tests.bot.admin_support import AdminPerson, seed_user
from tests.bot.chat import buttons, forged_tap, labels
from tests.support.wait import wait_for

TEXT = "Big <b>news</b>: a new server in Oslo!"


@pytest.fixture
async def db(database_url):
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def compose(admin: AdminPerson) -> tuple[dict, dict]:
    """Opens the broadcast screen and sends the draft: (preview, confirmation) messages."""
    home = await admin.console()
    await admin.press("📣 Broadcast", home["message_id"], "Send the message to broadcast")
    after = await admin.last_id()
    await admin.standin.user_message(admin.id, "Big news: a new server in Oslo!")
    # Typed without formatting: no entities, so the draft is the plain text.
    preview = await admin.reply(after, "a new server in Oslo")
    confirm = await admin.reply(after, "This is how the message will look")
    return preview, confirm


async def test_compose_preview_confirm_start_and_cancel(bot, standin, scheduler, db):
    for user_id in (8501, 8502):
        await seed_user(db, user_id)
    admin = AdminPerson(standin)
    preview, confirm = await compose(admin)
    assert preview["message_id"] < confirm["message_id"]
    assert labels(confirm)[:2] == ["✅ All users", "Active subscription"]
    screen = await admin.press("Active subscription", confirm["message_id"], "Audience: Active subscription")
    assert "✅ Active subscription" in labels(screen)
    assert scheduler.requests == []            # nothing starts before "Send"

    send = next(b for b in buttons(screen) if b["text"] == "✅ Send the broadcast")
    await admin.tap(data=send["callback_data"], message_id=confirm["message_id"])
    await admin.wait_screen(confirm["message_id"], "is starting")
    # The progress message carries the contract's buttons as soon as the scheduler accepted the job;
    # from then on the scheduler edits its text.
    await admin.wait_buttons(confirm["message_id"], [broadcast_callback("pause", 1), broadcast_callback("cancel", 1)],
                             by="callback_data")
    (method, request), = scheduler.requests
    assert method == "start_broadcast"
    assert request.admin_id == admin.id and request.audience == "active" and request.locale == "en"
    assert request.text == "Big news: a new server in Oslo!" and request.parse_mode == "HTML"
    assert (request.progress.chat_id, request.progress.message_id) == (admin.id, confirm["message_id"])

    # A second tap on "Send" (a double tap or a replay) starts nothing more.
    again = await forged_tap(standin, admin.id, confirm["message_id"], send["callback_data"])
    assert (await admin.answer_of(again))["answers"][0]["text"] == "This button is out of date. Open the menu again."
    assert len(scheduler.requests) == 1

    toast = await admin.toast("⏸ Pause", message_id=confirm["message_id"])
    assert toast == "Broadcast #1: paused"
    await admin.wait_buttons(confirm["message_id"], [broadcast_callback("resume", 1), broadcast_callback("cancel", 1)],
                             by="callback_data")
    assert await admin.toast("✖️ Cancel broadcast", message_id=confirm["message_id"]) == "Broadcast #1: cancelled"
    assert [m for m, _ in scheduler.requests] == ["start_broadcast", "pause_broadcast", "cancel_broadcast"]
    cancel = scheduler.requests[-1][1]
    assert (cancel.admin_id, cancel.broadcast_id) == (admin.id, 1)

    async def buttons_gone() -> bool:
        return not buttons(await admin.screen(confirm["message_id"]))
    await wait_for(buttons_gone, message="controls removed from a cancelled broadcast")
    # A control on a finished broadcast is refused by the scheduler and told as such.
    late = await forged_tap(standin, admin.id, confirm["message_id"], broadcast_callback("resume", 1))
    assert (await admin.answer_of(late))["answers"][0]["text"] == "Broadcast #1 has already finished."
    # Recipients got nothing from the bot: sending is the scheduler's.
    assert await standin.transcript(8501) == [] and await standin.transcript(8502) == []
    actions = [r["action"] for r in await db.fetch("SELECT action FROM admin_audit ORDER BY id")]
    assert actions == ["broadcast_start", "broadcast_pause", "broadcast_cancel"]   # written by the scheduler


async def test_formatting_is_kept_and_scheduler_down_keeps_the_draft(bot, standin, database_url, run_dir):
    from tests.bot.fakes import FakeScheduler

    admin = AdminPerson(standin)
    home = await admin.console()
    await admin.press("📣 Broadcast", home["message_id"], "scheduler is not answering")
    after = await admin.last_id()
    # A message with entities, as a Telegram client sends bold text.
    message = standin.world.add_message(admin.id, from_bot=False, text="Big news: Oslo",
                                        entities=[{"type": "bold", "offset": 4, "length": 4}])
    standin.world.enqueue("message", standin.world.message_api(message))
    preview = await admin.reply(after, "Big news: Oslo")
    assert preview["html"] == "Big <b>news</b>: Oslo"
    confirm = await admin.reply(after, "This is how the message will look")
    await admin.tap("✅ Send the broadcast", message_id=confirm["message_id"])
    await admin.wait_screen(confirm["message_id"], "scheduler is not answering", timeout=10)
    assert "✅ Send the broadcast" in labels(await admin.screen(confirm["message_id"]))

    scheduler = FakeScheduler(database_url, run_dir)
    await scheduler.start()
    try:
        await admin.tap("✅ Send the broadcast", message_id=confirm["message_id"])
        await admin.wait_screen(confirm["message_id"], "is starting")
        await wait_for(lambda: scheduler.requests, message="the broadcast request reaching the scheduler")
        (_, request), = scheduler.requests
        assert request.text == "Big <b>news</b>: Oslo" and request.audience == "all"
    finally:
        await scheduler.stop()


async def test_drop_and_edit_the_draft(bot, standin, scheduler):
    admin = AdminPerson(standin)
    _, confirm = await compose(admin)
    await admin.press("✏️ Change the text", confirm["message_id"], "Send the message to broadcast")
    after = await admin.last_id()
    await admin.standin.user_message(admin.id, "Second version")
    confirm = await admin.reply(after, "This is how the message will look")
    await admin.press("✖️ Discard", confirm["message_id"], "draft was discarded")
    assert scheduler.requests == []
