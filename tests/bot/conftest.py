"""Fixtures for the bot's tests: the Telegram stand-in, the bot in-process or as a real process, contract doubles.

Every stand-in a test in tests/bot uses reports its callback queries into one session-wide tally;
the session ends by asserting that each query the stand-in saw was answered exactly once, error
paths and tampered data included.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox.telegram.server import TelegramStandIn
from sandbox.webchat import WebChatConfig
from tests.bot.fakes import FakePayments, FakeScheduler, FakeVpnGateway
from tests.bot.inprocess import ADMIN_ID, TOKEN, InProcessBots
from tests.bot.processes import ServiceProcess, service_env
from tests.support.ports import free_port
from tests.support.service_logs import assert_no_unsupervised_failure, read_logs
from tests.support.wait import wait_for

_callback_queries: list[dict[str, Any]] = []


@pytest.fixture(scope="session", autouse=True)
def every_callback_answered_exactly_once():
    yield
    wrong = [q for q in _callback_queries if q["answered"] != 1 or q["answer_attempts"] != 1]
    assert not wrong, f"{len(wrong)} of {len(_callback_queries)} callback queries not answered exactly once: {wrong[:5]}"


def record_callback_queries(queries: list[dict[str, Any]]) -> None:
    _callback_queries.extend(queries)


@pytest.fixture
async def standin(request: pytest.FixtureRequest) -> AsyncIterator[TelegramStandIn]:
    """The Telegram stand-in; it also serves the web chat, offering these users, when the test's
    module names them in WEB_CHAT_PERSONAS (the browser tests)."""
    personas = getattr(request.module, "WEB_CHAT_PERSONAS", None)
    stand_in = TelegramStandIn(token=TOKEN, web_chat=WebChatConfig(personas=personas) if personas else False)
    await stand_in.start()
    yield stand_in
    # Bot fixtures depend on this one, so the bot has stopped: no answer can arrive later.
    record_callback_queries(await stand_in.callback_queries())
    await stand_in.stop()


@pytest.fixture
def run_dir() -> Path:
    # Short on purpose: unix socket paths are limited to ~107 bytes.
    path = Path(tempfile.mkdtemp(prefix="atcs-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class BotUnderTest:
    """The bot as a real process (`python -m services.bot`) against the stand-in."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.health_port = int(env["ATCS_HEALTH_PORT_BOT"])
        self.process: ServiceProcess | None = None
        self.runs = 0
        self.allowed_in_logs: list[str] = []   # log lines the test provokes on purpose

    async def readyz(self) -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{self.health_port}/readyz",
                                    timeout=aiohttp.ClientTimeout(total=1)) as response:
                    return await response.json()
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def start(self, *, ready: bool = True, timeout: float = 20.0) -> None:
        self.runs += 1
        self.process = ServiceProcess("bot", self.env, self.log_dir / f"bot-{self.runs}.log")
        self.process.start()
        if ready:
            async def is_ready() -> bool:
                if not self.process.alive:
                    raise AssertionError(f"bot exited: {self.process.log()[-3000:]}")
                body = await self.readyz()
                return bool(body and body.get("ready"))
            try:
                await wait_for(is_ready, timeout=timeout, interval=0.1, message="bot ready")
            except AssertionError:
                print(self.process.log()[-5000:])
                raise

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> int | None:
        return self.process.stop() if self.process else None

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("bot-*.log")))

    def check_logs(self) -> None:
        """Every run's log, once stopped: no unsupervised failure (tests/support/service_logs.py)."""
        assert_no_unsupervised_failure(read_logs(self.log_dir, [f"bot-{run}" for run in range(1, self.runs + 1)]),
                                       self.allowed_in_logs)


@pytest.fixture
def bot_env(database_url: str, standin: TelegramStandIn, run_dir: Path) -> dict[str, str]:
    return service_env(
        ATCS_DATABASE_URL=database_url,
        ATCS_BOT_TOKEN=TOKEN,
        ATCS_TELEGRAM_API_URL=standin.url,
        ATCS_RUN_DIR=str(run_dir),
        ATCS_HEALTH_PORT_BOT=str(free_port()),
        ATCS_ADMIN_IDS=str(ADMIN_ID),
        ATCS_POLLING_TIMEOUT="2",
        ATCS_REQUEST_TIMEOUT="5",
        ATCS_CRYPTOPAY_TOKEN="1234:AAsandboxCryptoPayToken",
        ATCS_BOT_NOTIFY_INTERVAL="0.5",
        ATCS_SHUTDOWN_TIMEOUT="5",
        # Tests act faster than people; throttling has its own test (test_guards.py).
        ATCS_BOT_THROTTLE_BURST="50",
        # A handler's wait on payments/vpn_gateway (0.6 s in production, "working on it" after it):
        # here the services share two busy cores with the tests, so a healthy one may answer late.
        # Tests of a slow peer make it slower than this (3 s). Likewise an admin screen's wait (2 s).
        ATCS_BOT_RPC_DEADLINE="1.5",
        ATCS_BOT_ADMIN_DEADLINE="5",
    )


@pytest.fixture
async def launch_bot(bot_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[BotUnderTest]]]:
    started: list[BotUnderTest] = []

    async def launch(ready: bool = True, **env: str) -> BotUnderTest:
        bot = BotUnderTest({**bot_env, **env}, tmp_path)
        started.append(bot)
        await bot.start(ready=ready)
        return bot

    yield launch
    for bot in started:
        bot.stop()
    for bot in started:
        bot.check_logs()


@pytest.fixture
async def bot(start_bot):
    return await start_bot()


@pytest.fixture
async def vpn(database_url: str, run_dir: Path) -> AsyncIterator[FakeVpnGateway]:
    fake = FakeVpnGateway(database_url, run_dir)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def payments(database_url: str, run_dir: Path) -> AsyncIterator[FakePayments]:
    fake = FakePayments(database_url, run_dir)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def scheduler(database_url: str, run_dir: Path) -> AsyncIterator[FakeScheduler]:
    fake = FakeScheduler(database_url, run_dir)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def make_inprocess(standin: TelegramStandIn, database_url: str):
    """Builds an InProcessBot; keyword arguments replace services (peers=...) or settings."""
    bots = InProcessBots(standin, database_url)
    yield bots.make
    await bots.close()


class ServiceInProcess:
    """A service's real `setup(ctx)` in the test's own event loop: the same context, RPC server,
    pool keeper, tasks and shutdown path as `python -m services.<name>` (common/lifecycle/runner.py),
    minus the interpreter start (aiogram alone costs seconds of CPU to import in a new process)."""

    def __init__(self, name: str, settings, setup) -> None:
        self.name = name
        self.settings = settings
        self.setup = setup
        self.ctx = None
        self._serve: asyncio.Task | None = None
        self._runner = None

    async def start(self) -> None:
        import zmq.asyncio
        from aiohttp import web

        from common.db.database import Database
        from common.ipc.endpoints import prepare_endpoint
        from common.ipc.server import RpcServer
        from common.lifecycle.context import ServiceContext
        from common.lifecycle.health import health_app
        from common.lifecycle.metrics import Metrics
        from common.lifecycle.runner import _register_core_methods
        from common.lifecycle.supervisor import TaskSupervisor

        settings = self.settings
        endpoint = prepare_endpoint(settings.ipc.endpoint(self.name), "endpoint")
        zctx = zmq.asyncio.Context()
        metrics = Metrics(self.name)
        db = Database(settings.database.url(), settings.database.pool_size(self.name),
                      acquire_timeout=settings.database.pool_acquire_timeout,
                      connect_timeout=settings.database.db_connect_timeout, service=self.name)
        self.ctx = ServiceContext(name=self.name, settings=settings, db=db, zmq=zctx,
                                  rpc=RpcServer(zctx, endpoint, self.name, observe=metrics.observe_rpc),
                                  metrics=metrics, tasks=TaskSupervisor())
        self.ctx.mark_schema(True)  # the test database is migrated from a template
        self.ctx.rpc.bind()
        _register_core_methods(self.ctx)
        self._runner = web.AppRunner(health_app(self.ctx), access_log=None, handle_signals=False)
        await self._runner.setup()
        self.ctx.tasks.start("database", db.keep_connected)
        self._serve = asyncio.create_task(self.ctx.rpc.serve())
        await self.setup(self.ctx)

    async def ready(self) -> bool:
        ok, _ = await self.ctx.readiness()
        return ok

    async def stop(self) -> None:
        from common.lifecycle.runner import _shutdown

        if self._serve is None:
            return
        serve, self._serve = self._serve, None
        await asyncio.wait_for(_shutdown(self.ctx, serve, self._runner), self.settings.health.shutdown_timeout)
        self.ctx.zmq.destroy(linger=0)


@pytest.fixture
async def start_bot(bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """Starts the bot in-process (see ServiceInProcess); keyword arguments are extra ATCS_* env."""
    from services.bot.settings import Settings
    from services.bot.app import setup

    started: list[ServiceInProcess] = []

    async def start(**env: str) -> ServiceInProcess:
        for key in list(os.environ):
            if key.startswith("ATCS_"):
                monkeypatch.delenv(key)
        for key, value in {**bot_env, **env}.items():
            if key.startswith("ATCS_"):
                monkeypatch.setenv(key, value)
        service = ServiceInProcess("bot", Settings.read(), setup)
        started.append(service)
        await service.start()
        await wait_for(service.ready, timeout=10, message="bot ready")
        return service

    yield start
    for service in started:
        await service.stop()
