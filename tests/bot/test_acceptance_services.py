"""Issue 4's acceptance flows with every process real: bot, payments and vpn_gateway as
`python -m services.<name>`, the Telegram, Crypto Pay and Outline stand-ins, a fresh database.

payments and vpn_gateway are built in parallel with the bot; until a service serves its contract
methods these tests skip (naming the method), and they run by themselves once it does. The same
flows run against contract doubles in test_trial.py and test_buy.py today.
"""
from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import zmq.asyncio

from common.contract.payments import CHECK_PAYMENT, STARS_PAID, PurchaseRef, StarsPaid
from common.contract.vpn_gateway import USAGE, UsageQuery
from common.ipc import RpcClient, RpcError
from sandbox.cryptopay.standin import CryptoPayStandIn
from sandbox.panels.outline.standin import OutlineStandIn
from tests.bot.chat import Person, buttons
from tests.bot.processes import ServiceProcess, service_env
from tests.support.ports import free_port
from tests.support.wait import wait_for

CRYPTOPAY_TOKEN = "1234:AAsandboxCryptoPayToken"


def vpn_servers_env(outline: OutlineStandIn) -> dict[str, str]:
    # vpn_gateway's server list (issue 3). The variable is the one migration 0001 names
    # (vpn_accounts.server: "name of the server in ATCS_VPN_SERVERS"); its format is vpn_gateway's.
    return {"ATCS_VPN_SERVERS": json.dumps([{"name": "s1", "backend": "outline", "api_url": outline.api_url}])}


@dataclass
class Stack:
    run_dir: Path
    database_url: str
    env: dict[str, str]
    logs: Path
    zmq: zmq.asyncio.Context
    processes: dict[str, ServiceProcess]
    cryptopay: CryptoPayStandIn
    outline: OutlineStandIn

    def start(self, name: str) -> ServiceProcess:
        process = ServiceProcess(name, self.env, self.logs / f"{name}-{len(self.processes)}.log")
        process.start()
        self.processes[f"{name}-{len(self.processes)}"] = process
        return process

    async def call(self, service: str, method, body, timeout: float = 2.0):
        client = RpcClient(self.zmq, f"ipc://{self.run_dir}/{service}.ipc")
        try:
            return await client.call(method, body, timeout=timeout)
        finally:
            client.close()

    async def require(self, service: str, method, body) -> None:
        """Waits for the service to answer; skips the test while it does not serve `method` yet."""
        async def answered() -> str:
            try:
                await self.call(service, method, body, timeout=0.5)
                return "ok"
            except RpcError as exc:
                return "" if exc.code == "deadline_exceeded" else str(exc.code)
        try:
            outcome = await wait_for(answered, timeout=20, message=f"{service} answering")
        except AssertionError:
            logs = "\n".join(p.log()[-1500:] for n, p in self.processes.items() if n.startswith(service))
            pytest.fail(f"{service} never answered {method.name}: {logs}")
        if outcome == "unknown_method":
            pytest.fail(f"{service} does not serve {method.name}")


@pytest.fixture
async def stack(database_url, standin, run_dir, bot_env, tmp_path) -> AsyncIterator[Stack]:
    payments_port = free_port()
    cryptopay = CryptoPayStandIn(token=CRYPTOPAY_TOKEN,
                                 webhook_url=f"http://127.0.0.1:{payments_port}/webhooks/cryptobot")
    await cryptopay.start()
    outline = OutlineStandIn()
    await outline.start()
    env = {**bot_env, **service_env(), **vpn_servers_env(outline),
           "ATCS_CRYPTOPAY_API_URL": cryptopay.url, "ATCS_CRYPTOPAY_TOKEN": CRYPTOPAY_TOKEN,
           "ATCS_PAYMENTS_PORT": str(payments_port), "ATCS_HEALTH_PORT_PAYMENTS": str(free_port()),
           "ATCS_HEALTH_PORT_VPN_GATEWAY": str(free_port()), "ATCS_HEALTH_PORT_SCHEDULER": str(free_port())}
    env = {k: v for k, v in {**bot_env, **env}.items()}
    result = Stack(run_dir, database_url, env, tmp_path, zmq.asyncio.Context(), {}, cryptopay, outline)
    yield result
    for process in result.processes.values():
        process.stop()
    for process in result.processes.values():
        process.check_log()
    result.zmq.destroy(linger=0)
    await cryptopay.stop()
    await outline.stop()


async def start_all(stack: Stack, launch_bot, *, vpn: bool = True):
    stack.start("payments")
    if vpn:
        stack.start("vpn_gateway")
    await stack.require("payments", CHECK_PAYMENT, PurchaseRef(purchase_id=0))
    if vpn:
        await stack.require("vpn_gateway", USAGE, UsageQuery(user_id=0))
    return await launch_bot(**{k: v for k, v in stack.env.items() if k.startswith("ATCS_CRYPTOPAY")})


async def test_trial_then_buy_with_cryptobot_and_stars(stack, launch_bot, standin):
    bots = [await start_all(stack, launch_bot)]
    await standin.set_limits(chat_rate=100, chat_burst=100)
    person = Person(standin, 7001)
    await person.say("/start")
    after = await person.last_id()
    await person.say("/trial", expect="trial")
    await person.reply(after, "Your free trial is ready", timeout=20)
    assert "already used" in (await person.say("/trial"))["text"]

    # Crypto Bot: the invoice button, paid on the stand-in, whose webhook reaches payments.
    screen = await person.say("/buy", expect="Choose a plan")
    await person.tap(data=buttons(screen)[0]["callback_data"], message_id=screen["message_id"])
    await person.wait_screen(screen["message_id"], "How would you like to pay")
    after = await person.last_id()
    await person.tap("💎 Crypto Bot (USDT, TON, BTC…)", message_id=screen["message_id"])
    await person.wait_screen(screen["message_id"], "Your invoice", timeout=10)
    invoice = stack.cryptopay.invoices()[-1]
    await stack.cryptopay.pay(invoice["invoice_id"])
    await person.reply(after, "extended until", timeout=20)

    # Stars: sendInvoice, pre-checkout answered through payments, settlement, key message.
    screen = await person.say("/buy", expect="Choose a plan")
    await person.tap(data=buttons(screen)[0]["callback_data"], message_id=screen["message_id"])
    await person.wait_screen(screen["message_id"], "How would you like to pay")
    await person.tap("⭐ Telegram Stars", message_id=screen["message_id"])
    await person.wait_screen(screen["message_id"], "Your invoice", timeout=10)
    after = await person.last_id()
    assert (await standin.pay_invoice(person.id))["status"] == "paid"
    await person.reply(after, "extended until", timeout=20)
    logs = "".join(p.log() for p in stack.processes.values()) + bots[0].log()
    assert "ss://" not in logs and "TEST-TOKEN" not in logs  # keys and tokens never reach a log


async def test_referral_bonus_once_across_duplicate_payments(stack, launch_bot, standin):
    await start_all(stack, launch_bot)
    await standin.set_limits(chat_rate=100, chat_burst=100)
    conn = await asyncpg.connect(stack.database_url)
    try:
        inviter = Person(standin, 7010)
        await inviter.say("/start")
        code = await conn.fetchval("SELECT referral_code FROM users WHERE id = 7010")
        invitee = Person(standin, 7011)
        await invitee.say(f"/start ref_{code}")
        charges = []
        for _ in range(2):
            screen = await invitee.say("/buy", expect="Choose a plan")
            await invitee.tap(data=buttons(screen)[0]["callback_data"], message_id=screen["message_id"])
            await invitee.wait_screen(screen["message_id"], "How would you like to pay")
            await invitee.tap("⭐ Telegram Stars", message_id=screen["message_id"])
            await invitee.wait_screen(screen["message_id"], "Your invoice", timeout=10)
            result = await standin.pay_invoice(invitee.id)
            assert result["status"] == "paid"
            charges.append(result)
        # The first charge reported again (Telegram redelivers; reconciliation finds it too).
        paid = [m for m in await standin.transcript(invitee.id) if m["invoice"]][0]["invoice"]
        await stack.call("payments", STARS_PAID, StarsPaid(
            user_id=invitee.id, payload=paid["payload"], currency="XTR", total_amount=paid["total_amount"],
            telegram_payment_charge_id=charges[0]["charge_id"]))
        await inviter.reply(0, "A friend you invited has paid", timeout=20)
        await wait_for(lambda: conn.fetchval("SELECT count(*) = 2 FROM purchases WHERE user_id = 7011 AND status = 'paid'"),
                       timeout=20)
        assert await conn.fetchval("SELECT count(*) FROM referral_bonuses WHERE referrer_id = 7010") == 1
        bonus = [m for m in await standin.transcript(7010) if "A friend you invited" in (m["text"] or "")]
        assert len(bonus) == 1
    finally:
        await conn.close()


async def test_vpn_gateway_stopped_then_back(stack, launch_bot, standin):
    await start_all(stack, launch_bot, vpn=False)
    person = Person(standin, 7020)
    started = time.time()
    menu = await person.say("/start")
    assert await person.shown_after(started, "Main menu") < 1.0
    after = await person.last_id()
    started = time.time()
    await person.tap("🎁 Free trial", message_id=menu["message_id"])
    await person.wait_screen(menu["message_id"], "queued")
    assert await person.shown_after(started, "queued") < 1.0
    stack.start("vpn_gateway")
    await stack.require("vpn_gateway", USAGE, UsageQuery(user_id=0))
    await person.reply(after, "Your free trial is ready", timeout=30)
