"""Contract doubles of payments and vpn_gateway for the bot's tests.

They serve the real RPC methods (common/contract) on the real sockets, and write the same rows
the real services do (purchases, grants, activations, vpn_accounts, notifications), so the bot is
tested end to end against its contract while those services are built. The acceptance tests in
test_acceptance_services.py run the real ones.
"""
from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from pathlib import Path

import asyncpg
import zmq.asyncio

from common.contract.base import RpcErrorCode
from common.contract.bot import NUDGE_NOTIFICATIONS
from common.contract.outbox import Activation, Notice
from common.contract.payments import (
    CREATE_INVOICE, STARS_PAID, STARS_PRE_CHECKOUT, CreateInvoice, Invoice, PreCheckoutVerdict, Settlement,
    StarsPaid, StarsPreCheckout,
)
from common.contract.vpn_gateway import (
    NUDGE_ACTIVATIONS, REISSUE, USAGE, Enqueued, Nudged, Usage, UsageQuery, UserAction,
)
from common.ipc import RpcClient, RpcError, RpcServer
from common.shop.access import grant_days
from common.shop.outbox import enqueue_activation, enqueue_notification

REFERRAL_BONUS_DAYS = 7


class _Fake:
    service = ""

    def __init__(self, database_url: str, run_dir: Path) -> None:
        self.database_url = database_url
        self.run_dir = run_dir
        self.zmq = zmq.asyncio.Context()
        self.server: RpcServer | None = None
        self.pool: asyncpg.Pool | None = None
        self._task: asyncio.Task | None = None
        self.calls: list[str] = []

    def endpoint(self, service: str) -> str:
        return f"ipc://{self.run_dir}/{service}.ipc"

    def register(self, server: RpcServer) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        self.pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=3)
        self.server = RpcServer(self.zmq, self.endpoint(self.service), self.service)
        self.register(self.server)
        self.server.bind()
        self._task = asyncio.create_task(self.server.serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            await self.server.drain(1)
            self.server.close()
            self._task = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        self.zmq.destroy(linger=0)
        self.zmq = zmq.asyncio.Context()

    async def nudge_bot(self) -> None:
        client = RpcClient(self.zmq, self.endpoint("bot"))
        try:
            await client.call(NUDGE_NOTIFICATIONS, timeout=1.0)
        except RpcError:
            pass
        finally:
            client.close()


class FakeVpnGateway(_Fake):
    service = "vpn_gateway"

    def __init__(self, database_url: str, run_dir: Path, *, usage_delay: float = 0.0,
                 used_bytes: int = 123 * 1024 * 1024) -> None:
        super().__init__(database_url, run_dir)
        self.usage_delay = usage_delay
        self.used_bytes = used_bytes
        self._serial = itertools.count(1)
        self._lock = asyncio.Lock()

    def register(self, server: RpcServer) -> None:
        server.handle(NUDGE_ACTIVATIONS, self._nudge)
        server.handle(USAGE, self._usage)
        server.handle(REISSUE, self._reissue)

    async def start(self) -> None:
        await super().start()
        await self.process()  # a periodic scan would find what was queued while it was away

    async def _nudge(self, _: object) -> Nudged:
        self.calls.append("nudge")
        pending = await self.process()
        return Nudged(pending=pending)

    async def _usage(self, request: UsageQuery) -> Usage:
        self.calls.append("usage")
        if self.usage_delay:
            await asyncio.sleep(self.usage_delay)  # a slow panel, simulated
        return Usage(user_id=request.user_id, used_bytes=self.used_bytes, limit_bytes=None, as_of=None, stale=False)

    async def _reissue(self, request: UserAction) -> Enqueued:
        self.calls.append("reissue")
        async with self.pool.acquire() as conn:
            activation_id = await enqueue_activation(conn, request.user_id, Activation.REISSUE, request.request_id)
            if activation_id is None:
                activation_id = await conn.fetchval("SELECT id FROM activations WHERE idempotency_key = $1",
                                                    request.request_id)
        asyncio.create_task(self.process())
        return Enqueued(activation_id=activation_id, state="pending")

    def new_key(self, user_id: int) -> str:
        return f"ss://ZmFrZTpzZWNyZXQ{user_id}x{next(self._serial)}@127.0.0.1:8388/?outline=1"

    async def process(self) -> int:
        async with self._lock, self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT id, user_id, action FROM activations WHERE state = 'pending' ORDER BY id")
            for row in rows:
                async with conn.transaction():
                    await self._apply(conn, row["id"], row["user_id"], row["action"])
        if rows:
            await self.nudge_bot()
        return 0

    async def _apply(self, conn: asyncpg.Connection, activation_id: int, user_id: int, action: str) -> None:
        sub = await conn.fetchrow("SELECT expires_at, is_trial FROM subscriptions WHERE user_id = $1", user_id)
        had_key = await conn.fetchval("SELECT access_key FROM vpn_accounts WHERE user_id = $1", user_id)
        if action in (Activation.ISSUE, Activation.EXTEND, Activation.REISSUE):
            key = had_key if (had_key and action != Activation.REISSUE) else self.new_key(user_id)
            await conn.execute(
                """INSERT INTO vpn_accounts (user_id, server, backend, external_id, panel_id, access_key, expires_at)
                   VALUES ($1, 'fake', 'outline', $2, $3, $4, $5)
                   ON CONFLICT (user_id) DO UPDATE SET access_key = EXCLUDED.access_key,
                       expires_at = EXCLUDED.expires_at, status = 'active', updated_at = now()""",
                user_id, f"atcs-{user_id}", str(activation_id), key, sub["expires_at"] if sub else None)
            if action == Activation.REISSUE:
                kind, params = Notice.KEY_REISSUED, {}
            elif had_key:
                kind, params = Notice.SUBSCRIPTION_EXTENDED, {"expires_at": sub["expires_at"]}
            else:
                kind, params = Notice.KEY_READY, {"expires_at": sub["expires_at"], "is_trial": sub["is_trial"]}
            await enqueue_notification(conn, user_id, kind, params, key=f"activation:{activation_id}")
        await conn.execute("UPDATE activations SET state = 'done', done_at = now() WHERE id = $1", activation_id)


class FakePayments(_Fake):
    service = "payments"

    def __init__(self, database_url: str, run_dir: Path, *, delay: float = 0.0) -> None:
        super().__init__(database_url, run_dir)
        self.delay = delay
        self.invoices: dict[str, Invoice] = {}
        self._making: dict[str, asyncio.Future] = {}
        self._lock = asyncio.Lock()

    def register(self, server: RpcServer) -> None:
        server.handle(CREATE_INVOICE, self._create)
        server.handle(STARS_PRE_CHECKOUT, self._pre_checkout)
        server.handle(STARS_PAID, self._paid)

    async def _create(self, request: CreateInvoice) -> Invoice:
        """The same request_id gets the same invoice; a repeat while the first is still being made
        waits for it (the client re-sends a retry-safe call after each attempt timeout)."""
        self.calls.append("create_invoice")
        making = self._making.get(request.request_id)
        if making is None:
            making = self._making[request.request_id] = asyncio.ensure_future(self._make(request))
        return await asyncio.shield(making)

    async def _make(self, request: CreateInvoice) -> Invoice:
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow provider, simulated
        async with self._lock:
            async with self.pool.acquire() as conn:
                plan = await conn.fetchrow("SELECT id, price, stars_price, days FROM plans WHERE id = $1", request.plan_id)
                if plan is None:
                    raise RpcError(RpcErrorCode.NOT_FOUND, "no such plan")
                stars = request.method == "stars"
                amount = Decimal(plan["stars_price"]) if stars else plan["price"]
                currency = "XTR" if stars else "USD"
                purchase_id = await conn.fetchval(
                    """INSERT INTO purchases (user_id, plan_id, kind, method, amount, currency)
                       VALUES ($1, $2, 'subscription', $3, $4, $5) RETURNING id""",
                    request.user_id, plan["id"], request.method, amount, currency)
            invoice = Invoice(purchase_id=purchase_id, method=request.method, amount=amount, currency=currency,
                              invoice_url=None if stars else f"https://pay.example.org/invoice/{purchase_id}",
                              stars_payload=f"atcs:{purchase_id}" if stars else None)
            self.invoices[request.request_id] = invoice
            return invoice

    async def _pre_checkout(self, request: StarsPreCheckout) -> PreCheckoutVerdict:
        self.calls.append("pre_checkout")
        purchase_id = int(request.payload.split(":")[1])
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT status, amount FROM purchases WHERE id = $1", purchase_id)
        if row is None or row["status"] != "pending" or int(row["amount"]) != request.total_amount:
            return PreCheckoutVerdict(ok=False, error_message="This invoice is no longer valid.")
        return PreCheckoutVerdict(ok=True)

    async def _paid(self, request: StarsPaid) -> Settlement:
        self.calls.append("stars_paid")
        purchase_id = int(request.payload.split(":")[1])
        return await self.settle(purchase_id, request.telegram_payment_charge_id)

    async def settle(self, purchase_id: int, charge_id: str) -> Settlement:
        """What payments does on a Crypto Bot webhook or a Stars payment: once per purchase."""
        async with self._lock, self.pool.acquire() as conn:
            async with conn.transaction():
                row = await conn.fetchrow(
                    """UPDATE purchases SET status = 'paid', paid_at = now(), provider_charge_id = $2
                       WHERE id = $1 AND status = 'pending' RETURNING user_id, plan_id, amount, currency""",
                    purchase_id, charge_id)
                if row is None:
                    return Settlement(purchase_id=purchase_id, status="duplicate")
                plan = await conn.fetchrow("SELECT days, traffic_gb FROM plans WHERE id = $1", row["plan_id"])
                grant = await grant_days(conn, row["user_id"], plan["days"], key=f"purchase:{purchase_id}",
                                         plan_id=row["plan_id"], traffic_limit_bytes=plan["traffic_gb"] * 1024 ** 3)
                await enqueue_notification(conn, row["user_id"], Notice.PAYMENT_RECEIVED,
                                           {"amount": row["amount"], "currency": row["currency"],
                                            "expires_at": grant.expires_at}, key=f"paid:{purchase_id}")
                referrer = await conn.fetchval("SELECT referred_by FROM users WHERE id = $1", row["user_id"])
                if referrer is not None:
                    credited = await conn.fetchval(
                        """INSERT INTO referral_bonuses (invitee_id, referrer_id, purchase_id, days)
                           VALUES ($1, $2, $3, $4) ON CONFLICT (invitee_id) DO NOTHING RETURNING invitee_id""",
                        row["user_id"], referrer, purchase_id, REFERRAL_BONUS_DAYS)
                    if credited is not None:
                        bonus = await grant_days(conn, referrer, REFERRAL_BONUS_DAYS, key=f"referral:{row['user_id']}",
                                                 reason="referral")
                        await enqueue_notification(conn, referrer, Notice.REFERRAL_BONUS,
                                                   {"days": REFERRAL_BONUS_DAYS, "expires_at": bonus.expires_at},
                                                   key=f"referral:{row['user_id']}")
        vpn = RpcClient(self.zmq, self.endpoint("vpn_gateway"))
        try:
            await vpn.call(NUDGE_ACTIVATIONS, timeout=1.0)
        except RpcError:
            pass
        finally:
            vpn.close()
        await self.nudge_bot()
        return Settlement(purchase_id=purchase_id, status="settled")
