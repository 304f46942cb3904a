"""Item 6 with the real services: the console's reissue and bulk reissue reach the real
vpn_gateway (keys rotated on the Outline stand-in), its refund the real payments, and the
status screen reads each one's STATUS. Each service's `setup` runs in this event loop, as the
bot's (see ServiceInProcess)."""
from __future__ import annotations

import importlib

import asyncpg
import pytest

from sandbox.cryptopay.standin import CryptoPayStandIn
from sandbox.panels.outline.standin import OutlineStandIn
from tests.bot.admin_support import AdminPerson, seed_purchase
from tests.bot.chat import Person
from tests.bot.conftest import ServiceInProcess
from tests.bot.test_acceptance_services import CRYPTOPAY_TOKEN, vpn_servers_env
from tests.support.ports import free_port
from tests.support.wait import wait_for

USER = 9101


@pytest.fixture
async def services(start_bot, database_url):
    outline = OutlineStandIn()
    await outline.start()
    cryptopay = CryptoPayStandIn(token=CRYPTOPAY_TOKEN, webhook_url=f"http://127.0.0.1:{free_port()}/webhooks/cryptobot")
    await cryptopay.start()
    await start_bot(**vpn_servers_env(outline), ATCS_CRYPTOPAY_API_URL=cryptopay.url,
                    ATCS_PAYMENTS_PORT=str(free_port()), ATCS_VPN_SCAN_INTERVAL="0.5")
    started: list[ServiceInProcess] = []
    try:
        for name in ("payments", "vpn_gateway"):
            settings = importlib.import_module(f"services.{name}.settings").Settings.read()
            service = ServiceInProcess(name, settings, importlib.import_module(f"services.{name}.app").setup)
            started.append(service)
            await service.start()
            await wait_for(service.ready, timeout=15, message=f"{name} ready")
        conn = await asyncpg.connect(database_url)
        yield conn
        await conn.close()
    finally:
        for service in reversed(started):
            await service.stop()
        await cryptopay.stop()
        await outline.stop()


async def key_of(db: asyncpg.Connection) -> str:
    return await db.fetchval("SELECT access_key FROM vpn_accounts WHERE user_id = $1", USER)


async def test_reissue_bulk_refund_and_status_reach_the_owning_services(services, standin):
    db = services
    person = Person(standin, USER)
    await person.say("/trial", expect="free trial")
    await person.reply(0, "Your free trial is ready", timeout=20)
    # A Crypto Bot plan bought on top of the trial (as payments settles one).
    purchase = await seed_purchase(db, USER, amount="3.00", currency="USD", method="cryptobot", paid_days_ago=1)
    await db.execute("UPDATE subscriptions SET expires_at = expires_at + interval '30 days' WHERE user_id = $1", USER)
    admin = AdminPerson(standin)

    # One key, through vpn_gateway's REISSUE.
    first_key = await key_of(db)
    card = await admin.say(f"/user {USER}", expect=f"User {USER}")
    after = await person.last_id()
    await admin.press("♻️ Reissue key", card["message_id"], "stops working")
    await admin.press("Yes, reissue", card["message_id"], "is being reissued")
    await person.reply(after, "Your key has been reissued", timeout=20)
    second_key = await key_of(db)
    assert second_key != first_key

    # Every active key, as vpn_gateway's durable job; the screen is refreshed on demand.
    home = await admin.console()
    await admin.press("♻️ Bulk reissue", home["message_id"], "Every active user (1 now)")
    after = await person.last_id()
    await admin.press("⚠️ Yes, reissue every key", home["message_id"], "Bulk reissue #1")

    async def job_done() -> bool:
        await admin.toast("🔄 Refresh", message_id=home["message_id"])
        return "done\nDone 1 of 1" in (await admin.screen(home["message_id"]))["text"]

    await wait_for(job_done, timeout=30, interval=0.5, message="bulk reissue done")
    await person.reply(after, "Your key has been reissued", timeout=20)
    assert await key_of(db) not in (first_key, second_key)

    # A refund, through payments' REFUND: a Crypto Bot plan goes back to the balance.
    card = await admin.say(f"/user {USER}", expect=f"User {USER}")
    after = await person.last_id()
    await admin.press("💳 Purchases and refunds", card["message_id"], f"#{purchase}")
    await admin.press(f"↩️ Refund #{purchase}", card["message_id"], "Refund this purchase?")
    await admin.press("Yes, refund", card["message_id"], f"Purchase #{purchase}: refunded", timeout=10)
    await person.reply(after, "3.00 USD has been refunded", timeout=20)
    assert await db.fetchval("SELECT balance FROM users WHERE id = $1", USER) == 3

    # Status: every service over ZeroMQ (the scheduler is not running here).
    home = await admin.console()
    screen = await admin.press("🩺 Service status", home["message_id"], "supervisord", timeout=10)
    for name in ("bot", "payments", "vpn_gateway"):
        assert f"✅ {name} — ready" in screen["text"], screen["text"]
    assert "❌ scheduler — not answering" in screen["text"]

    audit = [tuple(r) for r in await db.fetch("SELECT admin_id, action FROM admin_audit ORDER BY id")]
    assert audit == [(admin.id, "reissue"), (admin.id, "bulk_reissue"), (admin.id, "refund")]
