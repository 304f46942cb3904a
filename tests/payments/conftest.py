"""Payments under test: the service's components wired by its own `build()`, in-process, against a
fresh migrated database, the Crypto Pay stand-in and the Telegram stand-in. Peers (vpn_gateway,
bot) are recorded instead of called, so tests can see the nudges."""
from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from common.settings.shop import ShopSettings
from common.settings.telegram import TelegramSettings
from services.payments.settings import Settings
from services.payments.settings import CryptoPaySettings, PaymentsSettings
from common.contract.payments import CreateInvoice, Invoice
from common.db.database import Database
from sandbox.cryptopay import CryptoPayStandIn, DeliveryPolicy
from sandbox.telegram import TelegramStandIn
from services.payments.app import Payments, build
from tests.support.database import connected_database
from tests.support.ports import free_port

CRYPTOPAY_TOKEN = "4242:AAtestCryptoPayTokenForPaymentsXYZ"
WEBHOOK_PATH = "/webhooks/cryptobot"
MONTH = 1            # plans seeded by 0001_core.sql: month_1 = 30 days, 3.00, 150 Stars
QUARTER = 2          # month_3 = 90 days, 8.00, 400 Stars
_user_ids = itertools.count(10_001)


def fast_delivery(**changes: Any) -> DeliveryPolicy:
    """Crypto Pay's retry schedule compressed from days to milliseconds."""
    values = dict(max_attempts=6, base_delay=0.05, max_delay=0.5, timeout=10.0)
    values.update(changes)
    return DeliveryPolicy(**values)


def payments_settings(database_url: str, cryptopay_url: str, telegram_url: str, bot_token: str, *, port: int = 0,
                      **overrides: Any) -> Settings:
    settings = Settings.read()
    cryptopay = {"cryptopay_timeout": 5.0, **overrides.pop("cryptopay", {})}
    settings.cryptopay = CryptoPaySettings(cryptopay_token=CRYPTOPAY_TOKEN, cryptopay_api_url=cryptopay_url,
                                           **cryptopay)
    settings.telegram = TelegramSettings(bot_token=bot_token, telegram_api_url=telegram_url, request_timeout=5.0)
    payments = {"confirm_retry_base": 0.05, "confirm_retry_max": 0.5, "telegram_retry_base": 0.05,
                **overrides.pop("payments", {})}
    settings.payments = PaymentsSettings(payments_port=port, reconcile_interval=0.2, reconcile_grace=0, **payments)
    settings.shop = ShopSettings(referral_bonus_days=7)
    return settings


class _Recorder:
    def __init__(self, peer: str, calls: list[tuple[str, str]]) -> None:
        self.peer = peer
        self.calls = calls

    async def call(self, method, body=None, *, timeout=None):
        self.calls.append((self.peer, method.name))
        return method.result.model_validate({"pending": 0})


@dataclass
class Peers:
    """Stands in for the vpn_gateway and bot RPC servers: records each nudge."""
    calls: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, service: str) -> _Recorder:
        return _Recorder(service, self.calls)

    def count(self, peer: str) -> int:
        return sum(1 for p, _ in self.calls if p == peer)


@dataclass
class Harness:
    app: Payments
    db: Database
    url: str                     # database URL, for a second connection
    cryptopay: CryptoPayStandIn
    telegram: TelegramStandIn
    peers: Peers

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.app.server.port}{WEBHOOK_PATH}"

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.db.acquire() as conn:
            return await conn.fetchval(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.db.acquire() as conn:
            return await conn.fetch(sql, *args)

    async def user(self, user_id: int | None = None, *, referred_by: int | None = None, balance: str = "0",
                   banned: bool = False) -> int:
        user_id = user_id or next(_user_ids)
        async with self.db.acquire() as conn:
            await conn.execute(
                """INSERT INTO users (id, referral_code, referred_by, balance, is_banned)
                   VALUES ($1, $2, $3, $4, $5)""",
                user_id, f"r{user_id}", referred_by, Decimal(balance), banned)
        return user_id

    async def invoice(self, user_id: int, *, plan_id: int | None = MONTH, topup: str | None = None,
                      method: str = "cryptobot", request_id: str | None = None) -> Invoice:
        return await self.app.invoicing.create(CreateInvoice(
            user_id=user_id, method=method, plan_id=None if topup else plan_id,
            topup_amount=Decimal(topup) if topup else None, request_id=request_id or uuid.uuid4().hex))

    async def provider_invoice_id(self, purchase_id: int) -> int:
        return int(await self.fetchval("SELECT provider_invoice_id FROM purchases WHERE id = $1", purchase_id))

    async def status(self, purchase_id: int) -> str:
        return await self.fetchval("SELECT status FROM purchases WHERE id = $1", purchase_id)

    async def counts(self) -> dict[str, int]:
        row = (await self.fetch(
            """SELECT (SELECT count(*) FROM purchases WHERE status = 'paid') AS paid,
                      (SELECT count(*) FROM payment_events WHERE outcome = 'settled') AS settled,
                      (SELECT count(*) FROM payment_events) AS events,
                      (SELECT count(*) FROM activations) AS activations,
                      (SELECT count(*) FROM notifications) AS notifications,
                      (SELECT count(*) FROM balance_ledger) AS ledger_rows,
                      (SELECT count(*) FROM admin_alerts) AS alerts,
                      (SELECT count(*) FROM purchases WHERE status = 'flagged') AS flagged"""))[0]
        return dict(row)


@pytest.fixture
async def cryptopay():
    standin = CryptoPayStandIn(token=CRYPTOPAY_TOKEN, delivery=fast_delivery())
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture
async def telegram():
    async with TelegramStandIn() as standin:
        yield standin


@pytest.fixture
async def database(database_url: str):
    async with connected_database(database_url, 5, acquire_timeout=5.0, service="payments") as db:
        yield db


async def start_harness(database_url: str, db: Database, provider: CryptoPayStandIn, telegram: TelegramStandIn,
                        **overrides: Any) -> tuple[Harness, list[asyncio.Task]]:
    """The app as setup() wires it: the webhook listening, the nudger, the claim confirmer and the
    worker of refunded subscriptions' renewal cancels running (reconciliation runs when a test asks
    for a pass)."""
    settings = payments_settings(database_url, provider.url, telegram.url, telegram.token, port=free_port(),
                                 **overrides)
    peers = Peers()
    app = build(settings, db, peers)
    await app.server.start()
    workers = [asyncio.create_task(app.nudger.run()), asyncio.create_task(app.renewal_cancels.run())]
    if app.confirmer is not None:
        workers.append(asyncio.create_task(app.confirmer.run()))
    harness = Harness(app=app, db=db, url=database_url, cryptopay=provider, telegram=telegram, peers=peers)
    provider.set_webhook(harness.webhook_url)
    return harness, workers


async def stop_harness(harness: Harness, workers: list[asyncio.Task]) -> None:
    await harness.cryptopay.webhooks.stop()  # no delivery may arrive while we tear down
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    await harness.app.drain()
    await harness.app.close()


@pytest.fixture
async def payments(database_url: str, database: Database, cryptopay: CryptoPayStandIn, telegram: TelegramStandIn):
    harness, workers = await start_harness(database_url, database, cryptopay, telegram)
    yield harness
    await stop_harness(harness, workers)
