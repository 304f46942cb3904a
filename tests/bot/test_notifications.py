"""The notification sender: outbox rows into Telegram, 429, 403, edits, admin alerts."""
from __future__ import annotations

import asyncio

import asyncpg
import pytest

from common.settings.telegram import TelegramSettings
from services.bot.settings import Settings
from services.bot.settings import BotSettings
from common.contract.outbox import Notice
from common.shop.outbox import enqueue_admin_alert, enqueue_notification
from services.bot.i18n import Translations
from services.bot.notifications.sender import NotificationSender
from services.bot.telegram.session import build_bot
from tests.support.database import connected_database
from tests.support.wait import wait_for
from tests.bot.conftest import ADMIN_ID, TOKEN


@pytest.fixture
async def sender(standin, database_url):
    settings = Settings.read()
    settings.telegram = TelegramSettings(bot_token=TOKEN, telegram_api_url=standin.url, admin_ids=[ADMIN_ID],
                                         request_timeout=5)
    settings.bot = BotSettings(bot_retry_after_max=0)   # a 429 goes straight back to the sender
    async with connected_database(database_url, service="bot") as db:
        bot = build_bot(settings, TOKEN)
        yield NotificationSender(db, bot, Translations(), settings)
        await bot.session.close()


@pytest.fixture
async def conn(database_url):
    connection = await asyncpg.connect(database_url)
    for user_id in (5001, 5002, 5003, ADMIN_ID):
        await connection.execute("INSERT INTO users (id, referral_code, language) VALUES ($1, $2, $3)",
                                 user_id, f"code{user_id}", "ru" if user_id == 5003 else "en")
    yield connection
    await connection.close()


async def test_rows_sent_once_in_users_language(sender, conn, standin):
    await enqueue_notification(conn, 5001, Notice.SUBSCRIPTION_EXTENDED, {"expires_at": "2031-05-06T07:08:00+00:00"})
    await enqueue_notification(conn, 5003, Notice.SUBSCRIPTION_EXPIRED, {})
    await enqueue_notification(conn, 5001, "no_such_kind", {})
    await sender.drain_once()
    await sender.drain_once()
    assert [m["text"] for m in await standin.transcript(5001)] == [
        "✅ Your subscription has been extended until 2031-05-06 07:08 UTC. Your key stays the same."]
    assert "Подписка истекла" in (await standin.transcript(5003))[0]["text"]
    states = await conn.fetch("SELECT kind, state FROM notifications ORDER BY id")
    assert [tuple(r) for r in states] == [("subscription_extended", "sent"), ("subscription_expired", "sent"),
                                          ("no_such_kind", "failed")]


async def test_key_ready_renders_key_from_vpn_accounts(sender, conn, standin):
    await conn.execute("""INSERT INTO vpn_accounts (user_id, server, backend, external_id, access_key)
                          VALUES (5001, 's1', 'outline', 'atcs-5001', 'ss://c2VjcmV0@10.0.0.1:443/?a=<b>&c')""")
    await enqueue_notification(conn, 5001, Notice.KEY_READY, {"expires_at": "2031-01-01T00:00:00+00:00"})
    await sender.drain_once()
    message = (await standin.transcript(5001))[0]
    assert "<code>ss://c2VjcmV0@10.0.0.1:443/?a=&lt;b&gt;&amp;c</code>" in message["html"]
    assert "ss://c2VjcmV0@10.0.0.1:443/?a=<b>&c" in message["text"]


async def test_blocked_user_marked_and_row_failed(sender, conn, standin):
    await standin.block(5002)
    await enqueue_notification(conn, 5002, Notice.SUBSCRIPTION_EXPIRED, {})
    await sender.drain_once()
    assert await conn.fetchval("SELECT blocked_bot FROM users WHERE id = 5002") is True
    row = await conn.fetchrow("SELECT state, last_error FROM notifications")
    assert row["state"] == "failed" and "blocked" in row["last_error"]


async def test_flood_control_reschedules_after_retry_after(sender, conn, standin):
    await standin.add_fault("sendMessage", status=429, retry_after=7, count=1)
    await enqueue_notification(conn, 5001, Notice.SUBSCRIPTION_EXPIRED, {})
    await sender.drain_once()
    row = await conn.fetchrow("SELECT state, attempts, next_attempt_at - now() AS wait FROM notifications")
    assert row["state"] == "pending" and row["attempts"] == 0
    assert 5 < row["wait"].total_seconds() <= 7
    await conn.execute("UPDATE notifications SET next_attempt_at = now()")
    await sender.drain_once()
    assert await conn.fetchval("SELECT state FROM notifications") == "sent"


async def test_edit_replaces_working_on_it_message(sender, conn, standin):
    working = await sender.bot.send_message(5001, "⏳ working on it")
    await enqueue_notification(conn, 5001, Notice.SUBSCRIPTION_EXPIRED,
                               {"edit": {"chat_id": 5001, "message_id": working.message_id}})
    await sender.drain_once()
    transcript = await standin.transcript(5001)
    assert len(transcript) == 1 and "expired" in transcript[0]["text"] and transcript[0]["edited"] == 1
    # A deleted "working on it" message: the notice comes as a new message instead.
    await sender.bot.delete_message(5001, working.message_id)
    await enqueue_notification(conn, 5001, Notice.SUBSCRIPTION_EXPIRED,
                               {"edit": {"chat_id": 5001, "message_id": working.message_id}}, key="again")
    await sender.drain_once()
    assert len(await standin.transcript(5001)) == 2


async def test_admin_alerts_reach_admins_once(sender, conn, standin):
    await enqueue_admin_alert(conn, "fatal", "payments entered FATAL", {"program": "payments"})
    await sender.drain_once()
    await sender.drain_once()
    messages = await standin.transcript(ADMIN_ID)
    assert len(messages) == 1 and "payments entered FATAL" in messages[0]["text"]
    assert await conn.fetchval("SELECT sent_at IS NOT NULL FROM admin_alerts")


async def test_nudge_wakes_the_sender(sender, conn, standin):
    sender.loop.rescan = 60  # only a nudge can wake it in time
    task = asyncio.create_task(sender.run())
    try:
        # The first (empty) pass is over: the row below can only be sent by a pass the nudge starts.
        await wait_for(lambda: sender.loop.passes >= 1, timeout=5, message="the sender's first pass")
        await enqueue_notification(conn, 5001, Notice.SUBSCRIPTION_EXPIRED, {})
        sender.nudge()
        await standin.wait_for_message(5001, timeout=2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
