"""Devices and pauses through the bot (issues 13.3, 13.4): the bot (in-process, polling the
Telegram stand-in) and vpn_gateway (its real `setup`, in this loop) over a Remnawave stand-in.
The user sees their plan's device limit and their devices, removes one, pauses the subscription
(the key goes off on the panel) and resumes it (on again, the key sent once more)."""
from __future__ import annotations

import importlib
import json

import asyncpg
import pytest

from common.shop.access import grant_days
from sandbox.panels.remnawave import RemnawaveStandIn
from tests.bot.chat import Person, labels
from tests.bot.conftest import ServiceInProcess
from tests.support.wait import wait_for

TOKEN = "rw-bot-test-token-41c9"


@pytest.fixture
async def stack(start_bot, database_url, standin):
    panel = RemnawaveStandIn(token=TOKEN)
    await panel.start()
    servers = [{"name": "rw-1", "backend": "remnawave", "api_url": panel.url, "token": TOKEN}]
    await start_bot(ATCS_VPN_SERVERS=json.dumps(servers), ATCS_VPN_SCAN_INTERVAL="0.5",
                    ATCS_BOT_RPC_DEADLINE="2.0")
    settings = importlib.import_module("services.vpn_gateway.settings").Settings.read()
    gateway = ServiceInProcess("vpn_gateway", settings, importlib.import_module("services.vpn_gateway.app").setup)
    await gateway.start()
    conn = await asyncpg.connect(database_url)
    try:
        await wait_for(gateway.ready, timeout=15, message="vpn_gateway ready")
        yield panel, conn
    finally:
        await conn.close()
        await gateway.stop()
        await panel.stop()


async def paid_user(person: Person, conn: asyncpg.Connection, panel: RemnawaveStandIn) -> int:
    """The person has bought month_1: the key has reached them. Returns their panel user id."""
    await person.say("/start", expect="")
    async with conn.transaction():
        plan_id = await conn.fetchval("SELECT id FROM plans WHERE code = 'month_1'")
        await grant_days(conn, person.id, 30, key=f"purchase:{person.id}", plan_id=plan_id)
    await wait_for(lambda: conn.fetchval("SELECT access_key FROM vpn_accounts WHERE user_id = $1 AND status = 'active'",
                                         person.id), timeout=15, message="key issued")
    return panel.users.by_username(f"atcs-{person.id}").id


async def test_a_user_sees_the_limit_and_their_devices_and_removes_one(stack, standin):
    panel, conn = stack
    person = Person(standin, 17001)
    panel_id = await paid_user(person, conn, panel)
    panel.connect_device(panel_id, "hwid-a", platform="Android", model="Pixel 8")
    panel.connect_device(panel_id, "hwid-b", platform="Windows")

    screen = await person.say("/subscription", expect="Up to 3 devices at once")
    await person.tap("📱 Devices", message_id=screen["message_id"])
    devices = await person.wait_screen(screen["message_id"], "Your plan allows 3 devices at once")
    assert "Pixel 8 · Android" in devices["text"] and "Windows" in devices["text"]
    assert "✖ Remove Pixel 8 · Android" in labels(devices)

    await person.tap("✖ Remove Pixel 8 · Android", message_id=screen["message_id"])
    await wait_for(lambda: [d["hwid"] for d in panel.devices(panel_id)] == ["hwid-b"], timeout=5,
                   message="device removed on the panel")
    await person.wait_buttons(screen["message_id"], ["✖ Remove Windows", "🔄 Refresh", "⬅️ My subscription"])
    assert "POST /api/hwid/devices/delete-all" not in panel.stats()["requests"]


async def test_a_slow_panel_is_a_try_again_line(stack, standin):
    panel, conn = stack
    person = Person(standin, 17002)
    await paid_user(person, conn, panel)
    panel.add_fault(route="GET /api/hwid/devices/{userId}", kind="latency", latency=5.0)
    screen = await person.say("/subscription", expect="devices at once")
    await person.tap("📱 Devices", message_id=screen["message_id"])
    await person.wait_screen(screen["message_id"], "did not answer in time")


async def test_a_user_pauses_and_resumes(stack, standin):
    panel, conn = stack
    person = Person(standin, 17003)
    await paid_user(person, conn, panel)
    expires_before = await conn.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", person.id)

    screen = await person.say("/subscription", expect="devices at once")
    await person.tap("⏸ Pause", message_id=screen["message_id"])
    choose = await person.wait_screen(screen["message_id"], "Pause for:")
    assert {"7 days", "14 days", "30 days"} <= set(labels(choose))
    await person.tap("7 days", message_id=screen["message_id"])
    await person.wait_screen(screen["message_id"], "Paused until")
    await wait_for(lambda: panel.users.by_username(f"atcs-{person.id}").status == "DISABLED", timeout=10,
                   message="key switched off on the panel")

    paused = await person.say("/subscription", expect="Paused until")
    assert "▶️ Resume now" in labels(paused) and "⏸ Pause" not in labels(paused)
    after = await person.last_id()
    await person.tap("▶️ Resume now", message_id=paused["message_id"])
    await person.wait_screen(paused["message_id"], "Resumed")
    await wait_for(lambda: panel.users.by_username(f"atcs-{person.id}").status == "ACTIVE", timeout=10,
                   message="key switched on again")
    await person.reply(after, "Your VPN", timeout=10)                  # the key, sent again
    expires_after = await conn.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", person.id)
    paused_for = await conn.fetchval("SELECT ended_at - started_at FROM subscription_freezes WHERE user_id = $1",
                                     person.id)
    assert expires_after - expires_before == paused_for         # the time paused, given back
