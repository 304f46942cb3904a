"""Contract doubles of payments, vpn_gateway and scheduler for the bot's tests.

They serve the real RPC methods (common/contract) on the real sockets, and write the same rows
the real services do (purchases, grants, activations, vpn_accounts, notifications), so the bot is
tested end to end against its contract while those services are built. The acceptance tests in
test_acceptance_services.py run the real ones.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import orjson
import zmq.asyncio

from common.contract.base import RpcErrorCode
from common.contract.bot import NUDGE_NOTIFICATIONS
from common.contract.outbox import Activation, Notice
from common.contract.payments import (
    CREATE_INVOICE, REFUND, STARS_PAID, STARS_PRE_CHECKOUT, CreateInvoice, Invoice, PreCheckoutVerdict,
    PurchaseRef, PurchaseState, Settlement, StarsPaid, StarsPreCheckout,
)
from common.contract.scheduler import (
    CANCEL_BROADCAST, LIST_BROADCASTS, PAUSE_BROADCAST, RENDER_CHART, RESUME_BROADCAST, START_BROADCAST, START_EXPORT,
    BroadcastControl, BroadcastList, BroadcastState, Chart, ChartQuery, ExportState, ListBroadcasts, StartBroadcast,
    StartExport,
)
from common.contract.scheduler import QUOTE_BROADCAST, BroadcastQuote, QuoteBroadcast
from common.contract.vpn_gateway import (
    BULK_REISSUE, BULK_REISSUE_CANCEL, BULK_REISSUE_STATE, NUDGE_ACTIVATIONS, REISSUE, USAGE, BulkReissue, Enqueued,
    JobRef, JobState, Nudged, Usage, UsageQuery, UserAction,
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
        self.requests: list[tuple[str, object]] = []   # (method, request body) of the admin methods

    async def audit(self, admin_id: int, action: str, target: str, detail: dict | None = None) -> None:
        """The admin_audit row the real service writes for an admin's request."""
        async with self.pool.acquire() as conn:
            await conn.execute("INSERT INTO admin_audit (admin_id, action, target, detail) VALUES ($1, $2, $3, $4::jsonb)",
                               admin_id, action, target, orjson.dumps(detail or {}, default=str).decode())

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
        self.bulk_jobs: dict[int, dict] = {}
        self._serial = itertools.count(1)
        self._lock = asyncio.Lock()
        self._scanner: asyncio.Task | None = None

    def register(self, server: RpcServer) -> None:
        server.handle(NUDGE_ACTIVATIONS, self._nudge)
        server.handle(USAGE, self._usage)
        server.handle(REISSUE, self._reissue)
        server.handle(BULK_REISSUE, self._bulk)
        server.handle(BULK_REISSUE_STATE, self._bulk_state)
        server.handle(BULK_REISSUE_CANCEL, self._bulk_cancel)

    SCAN_INTERVAL = 1.0   # the real one scans every ATCS_VPN_SCAN_INTERVAL (2 s) when not nudged

    async def start(self) -> None:
        await super().start()
        await self.process()
        # Like the real gateway, a lost or late nudge (the bot's deadline is 0.3 s) costs latency
        # only: the queue is scanned anyway.
        self._scanner = asyncio.create_task(self._scan())

    async def stop(self) -> None:
        scanner = self._scanner
        if scanner is not None:
            scanner.cancel()
            await asyncio.gather(scanner, return_exceptions=True)
            self._scanner = None
        await super().stop()

    async def _scan(self) -> None:
        while True:
            await asyncio.sleep(self.SCAN_INTERVAL)
            try:
                await self.process()
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
                pass   # the database restarting under a test; the next scan retries

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

    # Bulk reissue, as a job the test moves along itself (`bulk_jobs[job_id]`): the bot only
    # starts, reads and cancels it.
    async def _bulk(self, request: BulkReissue) -> JobRef:
        self.calls.append("bulk_reissue")
        self.requests.append(("bulk_reissue", request))
        for job_id, job in self.bulk_jobs.items():
            if job["request_id"] == request.request_id:
                return JobRef(job_id=job_id)
        async with self.pool.acquire() as conn:
            total = await conn.fetchval(
                """SELECT count(*) FROM subscriptions s JOIN vpn_accounts v ON v.user_id = s.user_id
                   WHERE s.status = 'active' AND s.expires_at > now() AND v.status = 'active'""")
        job_id = len(self.bulk_jobs) + 1
        self.bulk_jobs[job_id] = {"request_id": request.request_id, "state": "running", "total": total,
                                  "done": 0, "failed": 0}
        await self.audit(request.admin_id, "bulk_reissue", f"job:{job_id}", {"scope": request.scope, "total": total})
        return JobRef(job_id=job_id)

    def _job(self, job_id: int) -> JobState:
        job = self.bulk_jobs.get(job_id)
        if job is None:
            raise RpcError(RpcErrorCode.NOT_FOUND, "no such job")
        return JobState(job_id=job_id, state=job["state"], total=job["total"], done=job["done"], failed=job["failed"])

    async def _bulk_state(self, request: JobRef) -> JobState:
        self.calls.append("bulk_reissue_state")
        return self._job(request.job_id)

    async def _bulk_cancel(self, request: JobRef) -> JobState:
        self.calls.append("bulk_reissue_cancel")
        state = self._job(request.job_id)
        if state.state == "running":
            self.bulk_jobs[request.job_id]["state"] = "cancelled"
        return self._job(request.job_id)

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
        self.first_reply_at: float | None = None   # when the first invoice, however slow, is answered
        self.invoices: dict[str, Invoice] = {}
        self._making: dict[str, asyncio.Future] = {}
        self._lock = asyncio.Lock()
        self._scanner: asyncio.Task | None = None

    def register(self, server: RpcServer) -> None:
        server.handle(CREATE_INVOICE, self._create)
        server.handle(STARS_PRE_CHECKOUT, self._pre_checkout)
        server.handle(STARS_PAID, self._paid)
        server.handle(REFUND, self._refund)

    async def _refund(self, request: PurchaseRef) -> PurchaseState:
        """What payments' REFUND does, in short: the purchase refunded once, the user told, audited."""
        self.calls.append("refund")
        self.requests.append(("refund", request))
        async with self._lock, self.pool.acquire() as conn:
            async with conn.transaction():
                row = await conn.fetchrow("SELECT user_id, status, amount, currency FROM purchases WHERE id = $1",
                                          request.purchase_id)
                if row is None:
                    raise RpcError(RpcErrorCode.NOT_FOUND, f"no purchase {request.purchase_id}")
                if row["status"] == "refunded":
                    return PurchaseState(purchase_id=request.purchase_id, status="refunded")
                if row["status"] != "paid":
                    raise RpcError(RpcErrorCode.CONFLICT, f"purchase {request.purchase_id} is {row['status']}, not paid")
                await conn.execute("UPDATE purchases SET status = 'refunded' WHERE id = $1", request.purchase_id)
                await enqueue_notification(conn, row["user_id"], Notice.REFUNDED,
                                           {"amount": row["amount"], "currency": row["currency"]},
                                           key=f"refund:{request.purchase_id}")
        if request.admin_id is not None:
            await self.audit(request.admin_id, "refund", f"purchase:{request.purchase_id}")
        await self.nudge_bot()
        return PurchaseState(purchase_id=request.purchase_id, status="refunded")

    async def _create(self, request: CreateInvoice) -> Invoice:
        """The same request_id gets the same invoice; a repeat while the first is still being made
        waits for it (the client re-sends a retry-safe call after each attempt timeout)."""
        self.calls.append("create_invoice")
        making = self._making.get(request.request_id)
        if making is None:
            making = self._making[request.request_id] = asyncio.ensure_future(self._make(request))
        return await asyncio.shield(making)

    async def _make(self, request: CreateInvoice) -> Invoice:
        self.first_reply_at = self.first_reply_at or time.time() + self.delay
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


class FakeScheduler(_Fake):
    """The scheduler's admin jobs as its contract describes them: a start returns at once (the
    same request_id the same job), controls move the state, each admin request is audited. Sending
    is not simulated: the test reads `requests` and moves `broadcasts` along itself. The chart is
    `chart` (a test sets it), answered once `chart_gate` is open, or `chart_error` raised."""
    service = "scheduler"

    def __init__(self, database_url: str, run_dir: Path) -> None:
        super().__init__(database_url, run_dir)
        self.broadcasts: dict[int, dict] = {}
        self.exports: dict[int, StartExport] = {}
        self.chart: Chart | None = None
        self.chart_gate = asyncio.Event()
        self.chart_gate.set()
        self.chart_error: RpcError | None = None

    def register(self, server: RpcServer) -> None:
        server.handle(START_BROADCAST, self._start_broadcast)
        server.handle(QUOTE_BROADCAST, self._quote)
        server.handle(LIST_BROADCASTS, self._list)
        server.handle(PAUSE_BROADCAST, lambda r: self._control(r, "pause"))
        server.handle(RESUME_BROADCAST, lambda r: self._control(r, "resume"))
        server.handle(CANCEL_BROADCAST, lambda r: self._control(r, "cancel"))
        server.handle(START_EXPORT, self._start_export)
        server.handle(RENDER_CHART, self._chart)

    async def _chart(self, request: ChartQuery) -> Chart:
        self.calls.append("render_chart")
        self.requests.append(("render_chart", request))
        if self.chart_error is not None:
            raise self.chart_error
        await self.chart_gate.wait()
        if self.chart is None:
            raise RpcError(RpcErrorCode.UNAVAILABLE, "no chart set by the test")
        return self.chart

    def _state(self, broadcast_id: int) -> BroadcastState:
        b = self.broadcasts[broadcast_id]
        return BroadcastState(broadcast_id=broadcast_id, state=b["state"], audience=b["request"].audience,
                              language=None, total=b["total"], sent=b["sent"], failed=0, blocked=0,
                              remaining=b["total"] - b["sent"], in_doubt=0, throttled=0, rate=0.0, eta_seconds=None,
                              error=None, created_at=b["created_at"], started_at=None, finished_at=None)

    async def _quote(self, request: QuoteBroadcast) -> BroadcastQuote:
        self.calls.append("quote_broadcast")
        self.requests.append(("quote_broadcast", request))
        return BroadcastQuote(recipients=0, free_rate=25, paid_rate=1000, stars_estimate=Decimal(0),
                              stars_max=Decimal(0), balance=None, balance_error="fake scheduler")

    async def _start_broadcast(self, request: StartBroadcast) -> BroadcastState:
        self.calls.append("start_broadcast")
        self.requests.append(("start_broadcast", request))
        for broadcast_id, b in self.broadcasts.items():
            if b["request"].request_id == request.request_id:
                return self._state(broadcast_id)
        broadcast_id = len(self.broadcasts) + 1
        self.broadcasts[broadcast_id] = {"request": request, "state": "queued", "total": 0, "sent": 0,
                                         "created_at": datetime.now(UTC)}
        await self.audit(request.admin_id, "broadcast_start", f"broadcast:{broadcast_id}",
                         {"audience": request.audience})
        return self._state(broadcast_id)

    async def _list(self, request: ListBroadcasts) -> BroadcastList:
        self.calls.append("list_broadcasts")
        ids = sorted(self.broadcasts, reverse=True)[:request.limit]
        return BroadcastList(broadcasts=[self._state(i) for i in ids])

    async def _control(self, request: BroadcastControl, action: str) -> BroadcastState:
        self.calls.append(f"{action}_broadcast")
        self.requests.append((f"{action}_broadcast", request))
        b = self.broadcasts.get(request.broadcast_id)
        if b is None:
            raise RpcError(RpcErrorCode.NOT_FOUND, f"no broadcast {request.broadcast_id}")
        allowed, target = {"pause": (("queued", "running"), "paused"), "resume": (("paused",), "running"),
                           "cancel": (("queued", "running", "paused"), "cancelled")}[action]
        if b["state"] != target:
            if b["state"] not in allowed:
                raise RpcError(RpcErrorCode.CONFLICT, f"broadcast {request.broadcast_id} is {b['state']}")
            b["state"] = target
            await self.audit(request.admin_id, f"broadcast_{action}", f"broadcast:{request.broadcast_id}")
        return self._state(request.broadcast_id)

    async def _start_export(self, request: StartExport) -> ExportState:
        self.calls.append("start_export")
        self.requests.append(("start_export", request))
        export_id = next((i for i, r in self.exports.items() if r.request_id == request.request_id), None)
        if export_id is None:
            export_id = len(self.exports) + 1
            self.exports[export_id] = request
            await self.audit(request.admin_id, "export_start", f"export:{export_id}", {"kind": request.kind})
        return ExportState(export_id=export_id, kind=request.kind, state="queued", rows=None, bytes=None,
                           file_name=None, error=None, created_at=datetime.now(UTC), finished_at=None)
