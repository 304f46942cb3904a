"""Helpers of the vpn_gateway tests: a shop that writes rows as payments and the bot do, the
gateway assembled in-process, and the gateway as a real process."""
from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
import zmq.asyncio
from pydantic import SecretStr

from common.paths import REPO_ROOT
from services.vpn_gateway.settings import VpnSettings
from common.db.database import Database
from common.ipc.client import RpcClient
from common.shop.access import Grant, grant_days
from services.vpn_gateway.provisioning.bulk import BulkReissuer
from services.vpn_gateway.panels.health import watch_health
from services.vpn_gateway.panels.pool import ServerPool
from services.vpn_gateway.rpc.handlers import GatewayRpc
from services.vpn_gateway.rpc.usage_cache import UsageCache
from services.vpn_gateway.provisioning.worker import ActivationWorker
from tests.support.ports import free_port
from tests.support.service_logs import assert_log_clean
from tests.support.wait import GiveUp, wait_for

REMNAWAVE_TOKEN = "rw-test-token-5f1c2a9e"
MARZBAN_ADMIN = "atcs_admin"
MARZBAN_PASSWORD = "mz-test-password-7c1d0b"
XUI_ADMIN = "xui-admin"
XUI_PASSWORD = "xui-test-password-3b9e41"
GB = 1024 ** 3

# A gateway's loops stop within this after a cancel (the service's own shutdown bound is larger).
STOP_TIMEOUT = 5.0

# Quick retries and probes so the tests take seconds, not minutes.
FAST = {"vpn_scan_interval": 0.5, "vpn_retry_base": 0.1, "vpn_retry_max": 1.0, "vpn_breaker_cooldown": 0.5,
        "vpn_health_interval": 0.5, "vpn_usage_timeout": 0.3, "vpn_lease_seconds": 30.0}


def outline_server(standin: Any, name: str = "ol-1", **extra: Any) -> dict[str, Any]:
    return {"name": name, "backend": "outline", "api_url": standin.api_url, "request_timeout": 2.0, **extra}


def remnawave_server(standin: Any, name: str = "rw-1", **extra: Any) -> dict[str, Any]:
    return {"name": name, "backend": "remnawave", "api_url": standin.url, "token": REMNAWAVE_TOKEN,
            "request_timeout": 2.0, **extra}


def remnawave_user(standin: Any, username: str) -> dict[str, Any]:
    """The user as the Remnawave stand-in's API answers it."""
    return standin.users.by_username(username).to_api(standin.subscription_base)


def marzban_server(standin: Any, name: str = "mz-1", **extra: Any) -> dict[str, Any]:
    return {"name": name, "backend": "marzban", "api_url": standin.url, "admin_username": MARZBAN_ADMIN,
            "admin_password": MARZBAN_PASSWORD, "request_timeout": 2.0, **extra}


def xui_server(standin: Any, name: str = "xui-1", **extra: Any) -> dict[str, Any]:
    return {"name": name, "backend": "3x-ui", "api_url": standin.url, "admin_username": XUI_ADMIN,
            "admin_password": XUI_PASSWORD, "inbound_id": standin.inbound_id, "request_timeout": 2.0, **extra}


async def current(backend: Any, external_id: str, known_key: str | None) -> Any:
    """The panel account as the gateway sees it: found, carrying the key we hold if it still
    works (Marzban prints a new subscription URL on every read)."""
    found = await backend.find(external_id)
    return None if found is None else await backend.keep_key(found, known_key)


def servers_json(servers: list[dict[str, Any]]) -> str:
    return orjson.dumps(servers).decode()


def vpn_settings(servers: list[dict[str, Any]], **overrides: Any) -> VpnSettings:
    return VpnSettings(vpn_servers=SecretStr(servers_json(servers)), **{**FAST, **overrides})


# ---- the shop: rows as payments and the bot write them ---------------------------------------
async def add_user(conn: asyncpg.Connection, user_id: int) -> None:
    await conn.execute(
        "INSERT INTO users (id, first_name, referral_code) VALUES ($1, 'Test', $2) ON CONFLICT DO NOTHING",
        user_id, f"ref{user_id}")


async def buy(db: Database, user_id: int, days: int = 30, *, key: str | None = None,
              traffic_gb: int | None = None, is_trial: bool = False, plan: str | None = None) -> Grant:
    """A settled purchase: subscription extended and the activation row, in one transaction;
    `plan` (a plan's code) makes it a purchase of that plan, with its device limit."""
    async with db.transaction() as conn:
        await add_user(conn, user_id)
        plan_id = None if plan is None else await conn.fetchval("SELECT id FROM plans WHERE code = $1", plan)
        assert plan is None or plan_id is not None, f"no plan {plan!r} in the database"
        return await grant_days(conn, user_id, days, key=key or f"purchase:{user_id}:{os.urandom(4).hex()}",
                                traffic_limit_bytes=None if traffic_gb is None else traffic_gb * GB,
                                is_trial=is_trial, plan_id=plan_id)


async def fetch(db: Database, sql: str, *args: Any) -> list[asyncpg.Record]:
    async with db.acquire() as conn:
        return await conn.fetch(sql, *args)


async def value(db: Database, sql: str, *args: Any) -> Any:
    async with db.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def all_done(db: Database) -> bool:
    return await value(db, "SELECT count(*) FROM activations WHERE state <> 'done'") == 0


# ---- the gateway, assembled in-process as app.py does -----------------------------------------
class InProcessGateway:
    def __init__(self, db: Database, settings: VpnSettings, *, trace_configs: list | None = None,
                 health: bool = True) -> None:
        self.db = db
        self.settings = settings
        self.pool = ServerPool.from_settings(settings, trace_configs)
        self.bulk = BulkReissuer(db, settings.vpn_bulk_concurrency, interval=0.2,
                                 on_queued=lambda: self.worker.nudge())
        self.worker = ActivationWorker(db, self.pool, settings, on_done=self.bulk.activation_finished)
        self.pool.on_recover(self.worker.panel_recovered)
        self.usage = UsageCache(db, self.pool, ttl=settings.vpn_usage_cache_ttl, timeout=settings.vpn_usage_timeout)
        self.rpc = GatewayRpc(db, self.worker, self.usage, self.bulk)
        self._health = health
        self._tasks: list[asyncio.Task] = []

    def start(self) -> "InProcessGateway":
        self._tasks.append(asyncio.create_task(self.worker.run(), name="activations"))
        self._tasks.append(asyncio.create_task(self.bulk.run(), name="bulk_reissue"))
        if self._health:
            self._tasks.append(asyncio.create_task(watch_health(self.pool, self.settings.vpn_health_interval),
                                                   name="panel_health"))
        return self

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Cancel its loops and close it; a loop still running after `timeout` fails the test (it
        would hang the test, and a real gateway's shutdown, until something killed it)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            _, running = await asyncio.wait(tasks, timeout=timeout)
            assert not running, f"gateway loops still running {timeout}s after cancel: " + \
                ", ".join(sorted(task.get_name() for task in running))
            await asyncio.gather(*tasks, return_exceptions=True)     # their outcomes, collected
        await self.usage.close()
        await self.pool.close()

    async def settle(self, timeout: float = 20.0) -> None:
        """Every activation row done."""
        self.worker.nudge()
        await wait_for(lambda: all_done(self.db), timeout=timeout, message="all activations done")


# ---- the gateway as a real process --------------------------------------------------------------
class GatewayProcess:
    """`python -m services.vpn_gateway`, started, killed and restarted by the test itself."""

    def __init__(self, database_url: str, servers: list[dict[str, Any]], **settings: Any) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="g", dir="/tmp"))
        os.chmod(self.run_dir, 0o700)
        self.health_port = free_port()
        self.log_path = Path(tempfile.mkdtemp(prefix="atcs-gw-")) / "vpn_gateway.log"
        # Both folders go when the test drops the gateway (or at exit): /tmp must not fill up
        # with one log folder per test run.
        for folder in (self.run_dir, self.log_path.parent):
            weakref.finalize(self, shutil.rmtree, folder, True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATCS_") and k != "APP_ENV"}
        env.update({
            "ATCS_DATABASE_URL": database_url,
            "ATCS_RUN_DIR": str(self.run_dir),
            "ATCS_HEALTH_PORT_VPN_GATEWAY": str(self.health_port),
            "ATCS_VPN_SERVERS": servers_json(servers),
            "ATCS_LOG_FORMAT": "json",
            "ATCS_POOL_VPN_GATEWAY": "5",
            "PYTHONUNBUFFERED": "1",
        })
        for name, setting in {**FAST, **settings}.items():
            env[f"ATCS_{name.upper()}"] = str(setting)
        self.env = env
        self.process: subprocess.Popen | None = None
        self.allowed_in_log: list[str] = []   # log lines the test provokes on purpose
        self.zmq = zmq.asyncio.Context()

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "services.vpn_gateway"], cwd=REPO_ROOT, env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def client(self, attempt_timeout: float = 0.3) -> RpcClient:
        return RpcClient(self.zmq, f"ipc://{self.run_dir}/vpn_gateway.ipc", default_timeout=2.0,
                         attempt_timeout=attempt_timeout)

    async def wait_ready(self, timeout: float = 20.0) -> None:
        from common.contract.core import PING

        client = self.client()
        try:
            async def answers() -> bool:
                await client.call(PING, timeout=0.5)
                return True
            await wait_for(self.while_running(answers), timeout=timeout, message="vpn_gateway answers ping")
        finally:
            client.close()

    def assert_running(self) -> None:
        """GiveUp (a wait on this gateway ends at once) when the process has exited."""
        if self.process is None:
            raise GiveUp("vpn_gateway was never started")
        code = self.process.poll()
        if code is not None:
            raise GiveUp(f"vpn_gateway exited with {code}; its log ends:\n{self.log()[-3000:]}")

    def while_running(self, check: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
        """`check` for wait_for, failing the wait at once if the gateway exits meanwhile."""
        async def checked() -> Any:
            self.assert_running()
            result = check()
            return await result if inspect.isawaitable(result) else result
        return checked

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        """Stops the gateway and checks its log: no unsupervised failure (tests/support/service_logs.py)."""
        self.stop()
        self.zmq.destroy(linger=0)
        assert_log_clean(self.log_path, self.allowed_in_log)
