"""Webhook latency and throughput: POST /webhooks/cryptobot of the real payments process against a
bare aiohttp handler, measured in the same run on the same machine; then how long the settlements
behind those answers take to be confirmed with Crypto Pay and committed.

    python bench/bench_webhook.py [--rate 200] [--seconds 15] [--warmup 2] [--saturate 3] [--profile DIR]

Everything runs on loopback: a throw-away PostgreSQL with durable commits (fsync on,
synchronous_commit on), `python -m services.payments` as its own process, the Crypto Pay stand-in
as another (one invoice per pending purchase, all paid once payments has made its first
reconciliation pass), and a bare aiohttp server as a third.
Each request to payments is the signed invoice_paid update of a paid invoice for its own pending
purchase, as Crypto Pay signs it: a signature check and a claim committed before the 200. Behind the
answers, payments confirms the claims with getInvoices (many per call) and settles each (event,
purchase compare-and-set, subscription, activation and notification rows, commit); the bench waits
for every claim to be judged and counts the settlements committed after confirmation, not the 200s.
vpn_gateway and bot are stubbed in this process, answering the nudges payments sends after commits.

Load is open-loop at a fixed rate: request i is due at t0 + i/rate, and its latency is counted from
that due time, so a slow server cannot hide its queueing by slowing the client down. A short
closed-loop phase then shows the most each server sustains. Bounded to well under 60 s of load.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import orjson  # noqa: E402
from aiohttp import web  # noqa: E402

import zmq.asyncio  # noqa: E402

from bench.profiling import start_profilers, stop_profilers  # noqa: E402
from common.settings.database import DatabaseSettings  # noqa: E402
from common.contract.bot import NUDGE_NOTIFICATIONS  # noqa: E402
from common.contract.core import STATUS  # noqa: E402
from common.contract.vpn_gateway import NUDGE_ACTIVATIONS  # noqa: E402
from common.db.migrate import migrate  # noqa: E402
from common.ipc.client import RpcClient  # noqa: E402
from common.ipc.server import RpcServer  # noqa: E402
from sandbox.cryptopay.invoices import NewInvoice  # noqa: E402
from sandbox.cryptopay.standin import CryptoPayStandIn  # noqa: E402

TOKEN = "31337:AAbenchCryptoPayTokenNotASecret"
PATH = "/webhooks/cryptobot"
CONCURRENCY = 16  # closed-loop workers in the saturation phase
P99_GOAL_MS = 15.0          # webhook answer at the open-loop rate
SETTLED_GOAL = 1000.0       # confirmed settlements committed per second in the closed loop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sign(body: bytes) -> str:
    return hmac.new(hashlib.sha256(TOKEN.encode()).digest(), body, hashlib.sha256).hexdigest()


# ---- the bare baseline ------------------------------------------------------------------------

def serve_bare(port: int) -> None:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b'{"ok":true}', content_type="application/json")

    app = web.Application()
    app.router.add_post(PATH, handle)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# ---- the Crypto Pay stand-in ------------------------------------------------------------------

def serve_cryptopay(port: int, seed_file: Path) -> None:
    """The stand-in holding one invoice per purchase id in `seed_file` (invoice ids 1, 2, ... in that
    order), all paid at once on SIGUSR1; it sends no webhooks: the bench posts them."""
    async def main() -> None:
        standin = CryptoPayStandIn(token=TOKEN, port=port)
        for purchase_id in json.loads(seed_file.read_text()):
            standin.store.create(NewInvoice(
                currency_type="fiat", amount=Decimal("3"), fiat="USD", accepted_assets=["USDT", "TON", "BTC"],
                payload=f"atcs:{purchase_id}", allow_comments=False, expires_in=86400))

        def pay_all() -> None:
            for invoice in standin.store.search(status="active", count=10**9):
                standin.store.pay(invoice.invoice_id)
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, pay_all)
        await standin.start()
        await asyncio.Event().wait()

    asyncio.run(main())


async def start_cryptopay(procs: "Processes", purchase_ids: list[int]) -> tuple[str, subprocess.Popen]:
    """Starts the stand-in with the purchases' invoices, still unpaid."""
    seed_file = procs.workdir / "purchases.json"
    seed_file.write_text(json.dumps(purchase_ids))
    port = free_port()
    process = procs.start("cryptopay", [sys.executable, str(Path(__file__).resolve()), "--cryptopay-server",
                                        str(port), "--seed-file", str(seed_file)])
    url = f"http://127.0.0.1:{port}"

    async def seeded() -> bool:
        return (await cryptopay_stats(url))["invoices"] == len(purchase_ids)
    await wait_until(seeded, 60, "Crypto Pay stand-in")
    return url, process


async def pay_everything(url: str, process: subprocess.Popen, count: int) -> list[bytes]:
    """Every invoice paid at Crypto Pay; returns the signed update Crypto Pay would send for each."""
    process.send_signal(signal.SIGUSR1)

    async def all_paid() -> bool:
        return (await cryptopay_stats(url))["invoices_by_status"].get("paid") == count
    await wait_until(all_paid, 30, "invoices paid at the stand-in")
    async with aiohttp.ClientSession() as s, s.get(f"{url}/_control/invoices") as r:
        invoices = sorted((await r.json())["invoices"], key=lambda i: i["invoice_id"])
    return [orjson.dumps({"update_id": n + 1, "update_type": "invoice_paid",
                          "request_date": "2025-01-01T00:01:00.000Z", "payload": invoice})
            for n, invoice in enumerate(invoices)]


async def cryptopay_stats(url: str) -> dict:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/_control/stats") as r:
        return await r.json()


async def provider_calls(url: str) -> int:
    return int((await cryptopay_stats(url))["requests"].get("getInvoices", 0))


async def first_reconciliation_done(run_dir: Path) -> None:
    """payments reconciles every open invoice once at start: wait for that pass, so that the
    payments the bench makes afterwards reach it through the webhook, as they would in production."""
    context = zmq.asyncio.Context()
    client = RpcClient(context, f"ipc://{run_dir}/payments.ipc", default_timeout=2.0)

    async def passed() -> bool:
        status = await client.call(STATUS)
        return status.details["payments"]["reconcile_passes"] >= 1
    try:
        await wait_until(passed, 60, "payments' first reconciliation pass")
    finally:
        client.close()
        context.destroy(linger=0)


# ---- processes --------------------------------------------------------------------------------

class Processes:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        process = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        log.close()
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for process in reversed(self.running):
            self.stop(process, signal.SIGINT)  # SIGINT: a fast shutdown for postgres, clean for the rest


async def wait_until(probe, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if await probe():
                return
        except (OSError, aiohttp.ClientError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            pass
        await asyncio.sleep(0.05)
    raise SystemExit(f"bench: {what} not ready within {timeout}s")


async def start_postgres(procs: Processes) -> str:
    port = free_port()
    data, passfile = procs.workdir / "pgdata", procs.workdir / "pgpass"
    procs.start("postgres", [sys.executable, "-m", "common.db.embedded", "--dir", str(data), "--port", str(port),
                             "--passfile", str(passfile)])
    embedded = DatabaseSettings(embedded_pg_port=port, embedded_pg_passfile=passfile)
    admin = embedded.embedded_url(embedded.EMBEDDED_SUPERUSER, "postgres")

    async def accepts() -> bool:
        conn = await asyncpg.connect(admin, timeout=1)
        await conn.close()
        return True
    await wait_until(accepts, 40, "postgres")
    conn = await asyncpg.connect(admin)
    try:
        durable = (await conn.fetchval("SHOW fsync"), await conn.fetchval("SHOW synchronous_commit"))
        assert durable == ("on", "on"), f"the bench needs durable commits, got fsync/synchronous_commit={durable}"
        await conn.execute("CREATE DATABASE bench")
    finally:
        await conn.close()
    url = embedded.embedded_url(embedded.EMBEDDED_SUPERUSER, "bench")
    await migrate(url)
    return url


async def seed(url: str, count: int) -> list[int]:
    """`count` users, each with one pending Crypto Bot purchase whose invoice id will be the stand-in's
    1, 2, ...; returns the purchase ids in invoice order."""
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table("users", columns=["id", "referral_code"],
                                         records=[(100_000 + i, f"b{i}") for i in range(count)])
        await conn.execute(
            """INSERT INTO purchases (user_id, plan_id, kind, method, amount, currency, days, traffic_limit_bytes,
                                      provider_invoice_id, invoice_url, expires_at, request_id)
               SELECT 100000 + i, 1, 'subscription', 'cryptobot', 3.00, 'USD', 30, 107374182400,
                      (i + 1)::text, 'http://127.0.0.1/pay', now() + interval '1 day', 'bench' || i
               FROM generate_series(0, $1 - 1) AS i""", count)
        rows = await conn.fetch("SELECT id FROM purchases ORDER BY provider_invoice_id::bigint")
        # A production database has statistics; a bulk-loaded one gets them now, not mid-run.
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return [row["id"] for row in rows]


async def judged(url: str, answered: int, first_closed: int, timeout: float) -> tuple[int, float, float, int, int]:
    """Waits until every claim is confirmed or contradicted. Returns how many are still pending, how
    long after the last claim was stored the last one was judged, the settlements per second during
    the closed loop (its claims confirmed by Crypto Pay whose settlement committed a payment event,
    from the first claim stored to the last one settled; database clock), and how many of the closed
    loop's claims there were and were settled."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            pending, stored = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FROM payment_claims")
            if (pending == 0 and stored >= answered) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)  # polling the database for the end of the work, bounded above
        lag = await conn.fetchval(
            """SELECT coalesce(extract(epoch FROM max(resolved_at) - max(received_at)), 0)::float8
               FROM payment_claims""")
        claimed, settled, span = await conn.fetchrow(
            """SELECT count(*), count(e.provider_ref),
                      extract(epoch FROM max(c.resolved_at) FILTER (WHERE e.provider_ref IS NOT NULL)
                                         - min(c.received_at))::float8
               FROM payment_claims c
               LEFT JOIN payment_events e ON e.provider = 'cryptobot' AND e.provider_ref = c.invoice_id::text
                                         AND e.outcome = 'settled' AND c.state = 'confirmed'
                                         AND c.outcome = 'settled'
               WHERE c.update_id >= $1""", first_closed)
    finally:
        await conn.close()
    return pending, lag, settled / span if span else 0.0, claimed, settled


# ---- load ------------------------------------------------------------------------------------

@dataclass
class Result:
    latencies: list[float]
    errors: int
    elapsed: float

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


async def _post(session: aiohttp.ClientSession, url: str, body: bytes) -> bool:
    headers = {"Content-Type": "application/json", "crypto-pay-api-signature": sign(body)}
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def open_loop(url: str, bodies: list[bytes], rate: float) -> Result:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(body: bytes, due: float) -> None:
            nonlocal errors
            ok = await _post(session, url, body)
            if ok:
                latencies.append(loop.time() - due)
            else:
                errors += 1

        start = loop.time() + 0.05
        tasks = []
        for i, body in enumerate(bodies):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body, due)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - start
    return Result(latencies, errors, elapsed)


async def closed_loop(url: str, bodies: list[bytes], seconds: float, repeat: bool) -> Result:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0
    feed = itertools.cycle(bodies) if repeat else iter(bodies)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
        start = loop.time()
        stop_at = start + seconds

        async def worker() -> None:
            nonlocal errors
            for body in feed:
                if loop.time() >= stop_at:
                    return
                sent = loop.time()
                if await _post(session, url, body):
                    latencies.append(loop.time() - sent)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = loop.time() - start
    return Result(latencies, errors, elapsed)


async def measure(name: str, url: str, bodies: list[bytes], args: argparse.Namespace) -> tuple[Result, Result, int]:
    """Warm-up, the open-loop measurement, the closed-loop one; and how many requests got a 200."""
    warm = int(args.rate * args.warmup)
    steady = int(args.rate * args.seconds)
    warmed = await open_loop(url, bodies[:warm], args.rate)
    result = await open_loop(url, bodies[warm:warm + steady], args.rate)
    saturated = await closed_loop(url, bodies[warm + steady:], args.saturate, repeat=name == "bare")
    print(f"  {name:<9} done: {len(result.latencies)} ok, {result.errors} errors", flush=True)
    return result, saturated, len(warmed.latencies) + len(result.latencies) + len(saturated.latencies)


async def stub_peers(run_dir: Path) -> tuple[zmq.asyncio.Context, list[asyncio.Task]]:
    """vpn_gateway and bot as they are in production: up, answering the nudges payments sends."""
    context = zmq.asyncio.Context()
    tasks = []
    for service, method in (("vpn_gateway", NUDGE_ACTIVATIONS), ("bot", NUDGE_NOTIFICATIONS)):
        server = RpcServer(context, f"ipc://{run_dir}/{service}.ipc", service)

        async def answer(_: object) -> dict:
            return {"pending": 0}
        server.handle(method, answer)
        server.bind()
        tasks.append(asyncio.create_task(server.serve()))
    return context, tasks


# ---- main ------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="atcs-bench-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    procs = Processes(workdir)
    try:
        print(f"bench: PostgreSQL (fsync on), payments, the Crypto Pay stand-in and a bare aiohttp server on loopback; "
              f"{args.rate:.0f} req/s for {args.seconds:.0f} s after {args.warmup:.0f} s warm-up", flush=True)
        db_url = await start_postgres(procs)
        # Unique payments for the payments server (its closed-loop phase stays under ~4 000/s here);
        # the bare handler writes nothing, so it may see the same bodies again.
        purchase_ids = await seed(db_url, int(args.rate * (args.warmup + args.seconds)) + int(args.saturate * 4000))
        cryptopay_url, cryptopay = await start_cryptopay(procs, purchase_ids)

        port, health = free_port(), free_port()
        run_dir = workdir / "run"
        run_dir.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATCS_")}
        env.update({"ATCS_DATABASE_URL": db_url, "ATCS_PAYMENTS_PORT": str(port), "ATCS_RUN_DIR": str(run_dir),
                    "ATCS_HEALTH_PORT_PAYMENTS": str(health), "ATCS_CRYPTOPAY_TOKEN": TOKEN,
                    "ATCS_CRYPTOPAY_API_URL": cryptopay_url, "ATCS_BOT_TOKEN": "",
                    "ATCS_RECONCILE_INTERVAL": "3600", "ATCS_LOG_FORMAT": "json", "APP_ENV": "local"})
        peers, peer_tasks = await stub_peers(run_dir)
        payments = procs.start("payments", [sys.executable, "-m", "services.payments"], env)

        async def ready() -> bool:
            async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{health}/readyz") as r:
                return r.status == 200
        await wait_until(ready, 30, "payments")
        await first_reconciliation_done(run_dir)
        bodies = await pay_everything(cryptopay_url, cryptopay, len(purchase_ids))

        bare_port = free_port()
        bare = procs.start("bare", [sys.executable, str(Path(__file__).resolve()), "--bare-server", str(bare_port)])
        bare_url = f"http://127.0.0.1:{bare_port}{PATH}"

        async def bare_up() -> bool:
            async with aiohttp.ClientSession() as s, s.post(bare_url, data=b"{}") as r:
                return r.status == 200
        await wait_until(bare_up, 20, "bare server")
        bare_result = await measure("bare", bare_url, bodies, args)
        procs.stop(bare)

        pay_url = f"http://127.0.0.1:{port}{PATH}"
        calls_before = await provider_calls(cryptopay_url)
        profilers = start_profilers(args.profile, [("payments", payments.pid)])
        try:
            pay_result = await measure("payments", pay_url, bodies, args)
            first_closed = int(args.rate * args.warmup) + int(args.rate * args.seconds) + 1  # update ids count from 1
            pending, lag, rate, closed_claims, closed_settled = await judged(db_url, pay_result[2], first_closed,
                                                                             timeout=30)
        finally:
            stop_profilers(profilers)
        calls = await provider_calls(cryptopay_url) - calls_before
        procs.stop(payments)
        for task in peer_tasks:
            task.cancel()
        await asyncio.gather(*peer_tasks, return_exceptions=True)
        peers.destroy(linger=0)

        conn = await asyncpg.connect(db_url)
        try:
            settled = await conn.fetchval("SELECT count(*) FROM payment_events WHERE outcome = 'settled'")
            activations = await conn.fetchval("SELECT count(*) FROM activations")
            claims = await conn.fetchval("SELECT count(*) FROM payment_claims")
        finally:
            await conn.close()
        report(bare_result[:2], pay_result[:2], args, settled, activations, pay_result[2])
        print(f"confirmation: {claims} claims stored, {pending} still pending after the wait; "
              f"{calls} getInvoices calls ({claims / max(calls, 1):.1f} claims per call); the last claim was "
              f"judged {lag:.2f} s after the last one was stored")
        bare_rate = bare_result[1].throughput
        print(f"closed loop: {closed_settled} of its {closed_claims} claims confirmed by Crypto Pay and settled")
        print(f"closed loop: {rate:.0f} claims confirmed and settled per second (durable commits) beside "
              f"{bare_rate:.0f} req/s of the bare handler: ratio {rate / bare_rate if bare_rate else float('nan'):.2f}; "
              f"goal >= {SETTLED_GOAL:.0f}/s: {'met' if rate >= SETTLED_GOAL else 'NOT met'}")
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def report(bare: tuple[Result, Result], pay: tuple[Result, Result], args: argparse.Namespace,
           settled: int, activations: int, answered: int) -> None:
    (b, bs), (p, ps) = bare, pay
    print()
    print(f"open loop at {args.rate:.0f} req/s, {args.seconds:.0f} s "
          f"(latency from each request's due time; ms)")
    print(f"  {'':<28}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}{'req/s':>9}{'errors':>8}")
    for name, r in (("bare aiohttp handler", b), ("payments webhook", p)):
        print(f"  {name:<28}{r.pct(0.5):9.2f}{r.pct(0.9):9.2f}{r.pct(0.99):9.2f}{r.pct(1.0):9.2f}"
              f"{r.throughput:9.1f}{r.errors:8d}")
    print(f"  {'ratio payments / bare':<28}{p.pct(0.5) / b.pct(0.5):9.2f}{p.pct(0.9) / b.pct(0.9):9.2f}"
          f"{p.pct(0.99) / b.pct(0.99):9.2f}")
    print()
    print(f"closed loop, {CONCURRENCY} concurrent, {args.saturate:.0f} s (most each sustains)")
    for name, r in (("bare aiohttp handler", bs), ("payments webhook", ps)):
        print(f"  {name:<28}{r.throughput:9.1f} req/s   p50 {r.pct(0.5):7.2f} ms   p99 {r.pct(0.99):7.2f} ms"
              f"   errors {r.errors}")
    print(f"  {'ratio payments / bare':<28}{ps.throughput / bs.throughput:9.2f}")
    print()
    goal = "met" if p.pct(0.99) < P99_GOAL_MS else "NOT met"
    print(f"payments p99 at {args.rate:.0f} req/s: {p.pct(0.99):.2f} ms (goal < {P99_GOAL_MS:.0f} ms: {goal}); "
          f"{answered} webhooks answered 200 (warm-up and closed loop included); after Crypto Pay confirmed "
          f"them, {settled} settlements and {activations} activation rows committed")
    if settled != answered or activations != answered:
        print("bench: WARNING: settlements do not match the 200 answers", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (open loop)")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per server")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per server")
    parser.add_argument("--saturate", type=float, default=3.0, help="closed-loop seconds per server")
    parser.add_argument("--profile", type=Path, help="folder for py-spy's samples of payments while measured")
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cryptopay-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        serve_bare(args.bare_server)
        return
    if args.cryptopay_server:
        serve_cryptopay(args.cryptopay_server, args.seed_file)
        return
    if (args.warmup + args.seconds + args.saturate) * 2 > 50:
        parser.error("keep (warmup + seconds + saturate) * 2 under 50 s: the whole run is bounded to 60 s")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
