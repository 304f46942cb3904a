"""Issue 13.5 in the admin console, against the real scheduler (in this event loop) and the
Telegram stand-in: choosing a paid broadcast shows "working on it", then its cost in Stars and the
bot's Stars balance (getMyStarBalance) before anything can be sent; a balance that does not cover
the estimate leaves no Send button (and a forged Send starts nothing); the broadcast then goes out
with allow_paid_broadcast and its progress says it is paid."""
from __future__ import annotations

import asyncpg
import pytest

from tests.bot.admin_support import AdminPerson, seed_user
from tests.bot.chat import buttons, forged_tap, labels
from tests.bot.conftest import ServiceInProcess
from tests.support.wait import wait_for

RECIPIENTS = (8911, 8912, 8913, 8914)
PAID = "⭐ Paid, fast"
FREE = "🐢 Free pace"
SEND = "✅ Send the broadcast"


@pytest.fixture
async def stack(start_bot, tmp_path, database_url):
    from services.scheduler.settings import Settings

    scheduler_app = pytest.importorskip("services.scheduler.app")
    env = {"ATCS_BROADCAST_CHAT_INTERVAL": "0", "ATCS_BROADCAST_PROGRESS_INTERVAL": "0.3",
           "ATCS_EXPORT_DIR": str(tmp_path / "exports"), "ATCS_BACKUP_DIR": str(tmp_path / "backups"),
           "ATCS_BACKUP_ENABLED": "false"}
    await start_bot(**env)
    scheduler = ServiceInProcess("scheduler", Settings.read(), scheduler_app.setup)
    await scheduler.start()
    await wait_for(scheduler.ready, timeout=15, message="scheduler ready (leader)")
    conn = await asyncpg.connect(database_url)
    for user_id in RECIPIENTS:
        await seed_user(conn, user_id)
    yield conn
    await conn.close()
    await scheduler.stop()


async def _draft(admin: AdminPerson, standin) -> dict:
    home = await admin.console()
    await admin.press("📣 Broadcast", home["message_id"], "Send the message to broadcast")
    after = await admin.last_id()
    await standin.user_message(admin.id, "ATCS: faster servers tonight")
    return await admin.reply(after, "This is how the message will look")


async def test_paid_broadcast_shows_cost_and_balance_then_goes_out_paid(stack, standin):
    await standin.set_star_balance(100)
    admin = AdminPerson(standin)
    confirm = await _draft(admin, standin)
    assert FREE in " ".join(labels(confirm)) and PAID in labels(confirm)

    tap = await admin.tap(PAID, message_id=confirm["message_id"])
    screen = await admin.wait_screen(confirm["message_id"], "Estimated cost", timeout=5)
    text = screen["text"]
    # Order, not a stopwatch: the tap is answered, then "working on it" shown, then the cost.
    calls = await standin.calls()
    answered = next(i for i, c in enumerate(calls) if c["method"] == "answerCallbackQuery"
                    and c["params"].get("callback_query_id") == tap["callback_query_id"])
    working = next(i for i, c in enumerate(calls) if "asking Telegram" in str(c["params"].get("text")))
    quoted = next(i for i, c in enumerate(calls) if "Estimated cost" in str(c["params"].get("text")))
    assert answered < working < quoted
    # The four users and the admin, who is a user of the bot too.
    assert "Recipients: 5" in text and "Estimated cost: 0.5 ⭐ (at most 0.5 ⭐)" in text
    assert "Bot's Stars balance: 100 ⭐" in text and "up to 1000/s instead of 25/s" in text
    assert f"✅ {PAID}" in labels(screen) and SEND in labels(screen)
    assert any(c["method"] == "getMyStarBalance" for c in await standin.calls())

    await admin.tap(SEND, message_id=confirm["message_id"])
    final = await admin.wait_screen(confirm["message_id"], "Broadcast #1: done", timeout=15)
    assert "⭐ Paid broadcast" in final["text"]
    sends = [c for c in await standin.calls("sendMessage") if int(c["params"]["chat_id"]) in RECIPIENTS]
    assert sorted(int(c["params"]["chat_id"]) for c in sends) == list(RECIPIENTS)
    assert all(c["params"].get("allow_paid_broadcast") is True for c in sends)
    audit = await stack.fetchval("SELECT detail FROM admin_audit WHERE action = 'broadcast_start'")
    assert '"paid": true' in audit


async def test_short_balance_leaves_no_send_and_a_forged_send_starts_nothing(stack, standin):
    await standin.set_star_balance(0, 200_000_000)                # 0.2 Star: the estimate is 0.5
    admin = AdminPerson(standin)
    confirm = await _draft(admin, standin)
    send = next(b for b in buttons(confirm) if b["text"] == SEND)

    screen = await admin.press(PAID, confirm["message_id"], "Not enough Stars", timeout=5)
    assert "Bot's Stars balance: 0.2 ⭐" in screen["text"] and SEND not in labels(screen)
    forged = await forged_tap(standin, admin.id, confirm["message_id"], send["callback_data"])
    answer = (await admin.answer_of(forged))["answers"][0]
    assert answer["text"].startswith("⚠️ Not enough Stars") and answer["show_alert"]
    assert await stack.fetchval("SELECT count(*) FROM broadcasts") == 0

    # Back to the free pace: no cost, Send is there again.
    await admin.tap(FREE, message_id=confirm["message_id"])

    async def free_again():
        screen = await admin.screen(confirm["message_id"])
        return screen if "Stars" not in screen["text"] else None
    screen = await wait_for(free_again, timeout=5, message="the free draft shown again")
    assert SEND in labels(screen) and f"✅ {FREE}" in labels(screen)


async def test_scheduler_not_answering_means_no_paid_send(bot, standin):
    admin = AdminPerson(standin)
    confirm = await _draft(admin, standin)
    screen = await admin.press(PAID, confirm["message_id"], "scheduler is not answering", timeout=10)
    assert SEND not in labels(screen)
