"""Acceptance: the payments process killed with SIGKILL in the middle of a burst -> after its
restart every paid invoice is settled exactly once (by webhook retry or by reconciliation).

The service runs as a real process (`python -m services.payments`); invoices are created through
its ZeroMQ RPC, paid at the Crypto Pay stand-in (which retries failed deliveries), and the process
is killed once part of the burst has settled, while payments keep arriving.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import zmq.asyncio

from common.paths import REPO_ROOT
from common.contract.payments import CREATE_INVOICE, CreateInvoice
from common.ipc.client import RpcClient
from tests.payments.conftest import CRYPTOPAY_TOKEN, MONTH, WEBHOOK_PATH
from tests.support.ports import free_port
from tests.support.service_logs import assert_log_clean
from tests.support.wait import wait_for

BAD_SHUTDOWN = re.compile(r"Task was destroyed|Unclosed|ResourceWarning|never awaited|Traceback|unclosed")
INVOICES = 300
KILL_AFTER = 60          # settled payments seen before the kill


class PaymentsProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "services.payments"], cwd=REPO_ROOT, env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    async def ready(self) -> None:
        url = f"http://127.0.0.1:{self.env['ATCS_HEALTH_PORT_PAYMENTS']}/readyz"

        async def probe() -> bool:
            assert self.process is not None and self.process.poll() is None, self.tail()
            async with aiohttp.ClientSession() as session:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as response:
                    return response.status == 200
        await wait_for(probe, timeout=30, interval=0.1, message="payments ready")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@pytest.fixture
async def service(database_url, cryptopay):
    run_dir = Path(tempfile.mkdtemp(prefix="atcs-", dir="/tmp"))  # short: ipc paths are length-limited
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATCS_")}
    env.update({
        "ATCS_DATABASE_URL": database_url, "ATCS_PAYMENTS_PORT": str(port), "ATCS_RUN_DIR": str(run_dir),
        "ATCS_HEALTH_PORT_PAYMENTS": str(free_port()), "ATCS_CRYPTOPAY_API_URL": cryptopay.url,
        "ATCS_CRYPTOPAY_TOKEN": CRYPTOPAY_TOKEN, "ATCS_TELEGRAM_API_URL": "http://127.0.0.1:9",
        "ATCS_BOT_TOKEN": "", "ATCS_RECONCILE_INTERVAL": "0.5", "ATCS_RECONCILE_GRACE": "0",
        "ATCS_LOG_FORMAT": "json", "ATCS_NUDGE_TIMEOUT": "0.2", "APP_ENV": "local",
    })
    process = PaymentsProcess(env, run_dir / "payments.log")
    process.start()
    try:
        await process.ready()
        yield process, f"http://127.0.0.1:{port}{WEBHOOK_PATH}", run_dir
    finally:
        process.stop()
        try:
            assert_log_clean(process.log_path)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)


async def test_sigkill_in_the_middle_of_a_burst_loses_and_doubles_nothing(service, database_url, cryptopay):
    process, webhook_url, run_dir = service
    conn = await asyncpg.connect(database_url)
    zctx = zmq.asyncio.Context()
    rpc = RpcClient(zctx, f"ipc://{run_dir}/payments.ipc", default_timeout=10)
    try:
        users = list(range(50_001, 50_001 + INVOICES // 3))
        await conn.executemany("INSERT INTO users (id, referral_code) VALUES ($1, $2)", [(u, f"k{u}") for u in users])
        gate = asyncio.Semaphore(10)

        async def create(user: int) -> int:
            async with gate:
                invoice = await rpc.call(CREATE_INVOICE, CreateInvoice(
                    user_id=user, method="cryptobot", plan_id=MONTH, request_id=uuid.uuid4().hex))
                return invoice.purchase_id
        purchase_ids = await asyncio.gather(*(create(users[i % len(users)]) for i in range(INVOICES)))
        invoice_ids = [int(r["provider_invoice_id"]) for r in await conn.fetch(
            "SELECT provider_invoice_id FROM purchases ORDER BY id")]
        assert len(set(purchase_ids)) == INVOICES == len(invoice_ids)

        # Crypto Pay's retries, compressed: about 10 s of attempts per update.
        cryptopay.set_webhook(webhook_url)
        cryptopay.set_delivery(mode="normal", max_attempts=12, base_delay=0.1, max_delay=1.0, timeout=5)

        async def settled() -> int:
            return await conn.fetchval("SELECT count(*) FROM payment_events WHERE outcome = 'settled'")

        killed = asyncio.Event()

        async def burst() -> None:
            for i in range(0, INVOICES, 10):
                if i == 2 * INVOICES // 3:
                    await killed.wait()  # the last third is paid while the process is dead or restarting
                await asyncio.gather(*(cryptopay.pay(n) for n in invoice_ids[i:i + 10]))
                await asyncio.sleep(0.02)  # pacing of the payers, not synchronisation

        paying = asyncio.create_task(burst())
        await wait_for(lambda: settled_at_least(settled, KILL_AFTER), timeout=30, interval=0.01,
                       message="part of the burst settled")
        process.kill()
        killed_at = await settled()
        killed.set()
        assert not paying.done(), "the burst must still be running when the process dies"
        await asyncio.sleep(0.3)  # payments keep arriving while nobody listens (deliberate downtime)
        process.start()
        await process.ready()
        await paying

        async def all_paid() -> bool:
            return await conn.fetchval("SELECT count(*) FROM purchases WHERE status = 'paid'") == INVOICES
        await wait_for(all_paid, timeout=60, interval=0.2, message=f"every paid invoice settled\n{process.tail()}")

        events = await conn.fetch("SELECT provider_ref, outcome, source FROM payment_events")
        assert len(events) == INVOICES and {e["outcome"] for e in events} == {"settled"}
        assert sorted(int(e["provider_ref"]) for e in events) == sorted(invoice_ids)
        keys = [r["idempotency_key"] for r in await conn.fetch("SELECT idempotency_key FROM activations")]
        assert sorted(keys) == sorted(f"purchase:{p}" for p in purchase_ids)
        assert await conn.fetchval("SELECT count(*) FROM notifications") == INVOICES
        sources = Counter(e["source"] for e in events)
        outcomes = Counter(d["outcome"] for d in cryptopay.deliveries())
        failed_attempts = sum(1 for d in cryptopay.deliveries() for a in d["attempts"] if a.get("status") != 200)
        print(f"\nkilled after {killed_at} settlements; settled via {dict(sources)}; deliveries {dict(outcomes)}, "
              f"{failed_attempts} failed attempts retried")
        assert process.stop() == 0, process.tail()  # and SIGTERM drains cleanly
        log = process.log_path.read_text(errors="replace")
        assert not BAD_SHUTDOWN.search(log), BAD_SHUTDOWN.search(log).group(0) + "\n" + process.tail()
        assert CRYPTOPAY_TOKEN not in log
    finally:
        rpc.close()
        zctx.destroy(linger=0)
        await conn.close()


async def settled_at_least(count, threshold: int) -> bool:
    return await count() >= threshold
