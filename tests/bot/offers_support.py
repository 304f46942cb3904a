"""The shop with every money part real, for the offers tests (issue 12): the bot (in-process,
polling the Telegram stand-in), payments and vpn_gateway (their real `setup`, in this loop), the
Crypto Pay stand-in delivering signed webhooks to payments, a panel stand-in (Outline; a test
module's SHOP_PANEL = "remnawave" picks Remnawave, whose traffic limit lasts), one database.
ATCS_TRAFFIC_PACKAGES offers TRAFFIC_PACKAGES to both."""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from sandbox.cryptopay.standin import CryptoPayStandIn
from sandbox.panels.outline.standin import OutlineStandIn
from sandbox.panels.remnawave.standin import RemnawaveStandIn
from tests.bot.chat import Person, buttons
from tests.bot.conftest import ServiceInProcess
from tests.bot.test_acceptance_services import CRYPTOPAY_TOKEN, vpn_servers_env
from tests.support.ports import free_port
from tests.support.wait import wait_for

CRYPTO = "💎 Crypto Bot (USDT, TON, BTC…)"
TRAFFIC_PACKAGES = [{"id": "10gb", "gb": 10, "price": "2.50", "stars": 120},
                    {"id": "50gb", "gb": 50, "price": "9.00", "stars": 450}]
REMNAWAVE_TOKEN = "rw-offers-token-2b7d"
STARS = "⭐ Telegram Stars"


@dataclass
class Shop:
    db: asyncpg.Connection
    cryptopay: CryptoPayStandIn

    async def code(self, code: str, kind: str = "percent", value: str = "20", *, plans: list[int] | None = None,
                   max_uses: int | None = None, once_per_user: bool = True, valid_until: str | None = None,
                   valid_from: str = "-1 hour") -> int:
        return await self.db.fetchval(
            """INSERT INTO promo_codes (code, kind, value, plan_ids, valid_from, valid_until, max_uses, once_per_user,
                                        created_by)
               VALUES ($1, $2, $3, $4, now() + $5::text::interval, now() + $6::text::interval, $7, $8, 1)
               RETURNING id""",
            code, kind, Decimal(value), plans or [], valid_from, valid_until, max_uses, once_per_user)

    async def pay_last_crypto_invoice(self, user_id: int) -> dict[str, Any]:
        """Pays the newest Crypto Pay invoice of the user's purchases on the stand-in."""
        invoice_id = await wait_for(lambda: self.db.fetchval(
            "SELECT provider_invoice_id FROM purchases WHERE user_id = $1 AND method = 'cryptobot' "
            "ORDER BY id DESC LIMIT 1", user_id), message="invoice stored")
        return await self.cryptopay.pay(int(invoice_id))


@pytest.fixture(name="shop")
async def shop_fixture(start_bot, database_url, standin, request) -> Shop:
    if getattr(request.module, "SHOP_PANEL", "outline") == "remnawave":
        panel = RemnawaveStandIn(token=REMNAWAVE_TOKEN)
        await panel.start()
        servers = {"ATCS_VPN_SERVERS": json.dumps([{"name": "s1", "backend": "remnawave", "api_url": panel.url,
                                                    "token": REMNAWAVE_TOKEN}])}
    else:
        panel = OutlineStandIn()
        await panel.start()
        servers = vpn_servers_env(panel)
    payments_port = free_port()
    cryptopay = CryptoPayStandIn(token=CRYPTOPAY_TOKEN,
                                 webhook_url=f"http://127.0.0.1:{payments_port}/webhooks/cryptobot")
    await cryptopay.start()
    await standin.set_limits(chat_rate=100, chat_burst=100)
    await start_bot(**servers, ATCS_TRAFFIC_PACKAGES=json.dumps(TRAFFIC_PACKAGES), ATCS_CRYPTOPAY_API_URL=cryptopay.url,
                    ATCS_PAYMENTS_PORT=str(payments_port), ATCS_VPN_SCAN_INTERVAL="0.5",
                    ATCS_RECONCILE_INTERVAL="0.5", ATCS_RECONCILE_GRACE="0", ATCS_CONFIRM_RETRY_BASE="0.05")
    started: list[ServiceInProcess] = []
    try:
        for name in ("payments", "vpn_gateway"):
            settings = importlib.import_module(f"services.{name}.settings").Settings.read()
            service = ServiceInProcess(name, settings, importlib.import_module(f"services.{name}.app").setup)
            started.append(service)
            await service.start()
            await wait_for(service.ready, timeout=15, message=f"{name} ready")
        conn = await asyncpg.connect(database_url)
        yield Shop(conn, cryptopay)
        await conn.close()
    finally:
        for service in reversed(started):
            await service.stop()
        await cryptopay.stop()
        await panel.stop()


async def pick_plan(person: Person, screen: dict, starts: str = "30", expect: str = "Traffic") -> dict:
    """Taps the plan whose button starts with `starts` on the plans screen; the plan's screen."""
    plan = next(b for b in buttons(screen) if b["text"].startswith(starts))
    await person.tap(data=plan["callback_data"], message_id=screen["message_id"])
    return await person.wait_screen(screen["message_id"], expect)


async def buy_plan_with_crypto(person: Person, shop: Shop, plan_label: str = "30") -> None:
    """The person buys the plan whose button starts with `plan_label` and pays the Crypto Bot
    invoice; returns once the bot says the VPN is ready."""
    plans = await person.say("/buy", expect="Choose a plan")
    await pick_plan(person, plans, plan_label)
    after = await person.last_id()
    await person.tap(CRYPTO, message_id=plans["message_id"])
    await person.wait_screen(plans["message_id"], "Your invoice", timeout=10)
    await shop.pay_last_crypto_invoice(person.id)
    await person.reply(after, "Your VPN is ready", timeout=20)
