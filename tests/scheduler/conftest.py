"""Fixtures of the scheduler tests: a pool on the fresh test database, the Telegram stand-in,
the scheduler as a real process, and its settings."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from services.scheduler.settings import Settings
from services.scheduler.settings import SchedulerSettings
from common.db.database import Database
from sandbox.telegram import TelegramStandIn
from tests.support.database import connected_database
from tests.scheduler.process import ADMIN_ID, SchedulerProcess

TOKEN = "123456:TEST-TOKEN"
FULL = os.environ.get("ATCS_FULL_ACCEPTANCE") == "1"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with connected_database(database_url, 4, ready_within=15, probe_interval=0.2,
                                  service="scheduler-test") as database:
        yield database


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


@pytest.fixture
async def standin() -> AsyncIterator[TelegramStandIn]:
    server = TelegramStandIn(token=TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Callable[..., Settings]:
    """Settings.read() from a clean environment plus scheduler overrides."""
    def make(**scheduler: object) -> Settings:
        for key in list(os.environ):
            if key.startswith("ATCS_"):
                monkeypatch.delenv(key)
        monkeypatch.setenv("ATCS_ADMIN_IDS", str(ADMIN_ID))
        monkeypatch.setenv("ATCS_BOT_TOKEN", TOKEN)
        values = {"export_dir": tmp_path / "exports", "backup_dir": tmp_path / "backups", **scheduler}
        base = Settings.read()
        base.scheduler = SchedulerSettings(**values)
        return base
    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Lets a fixture know at teardown whether its test failed (to show the scheduler's log).
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
async def scheduler_factory(request: pytest.FixtureRequest, database_url: str, standin: TelegramStandIn, tmp_path):
    """Starts scheduler processes on the test database; all are stopped at the end (their log
    is printed when the test failed)."""
    made: list[SchedulerProcess] = []

    def make(env: dict[str, str] | None = None, run_dir=None) -> SchedulerProcess:
        process = SchedulerProcess(database_url, standin.url, TOKEN, run_dir=run_dir,
                                   env={"ATCS_EXPORT_DIR": str(tmp_path / "exports"),
                                        "ATCS_BACKUP_DIR": str(tmp_path / "backups"), **(env or {})})
        made.append(process)
        return process

    yield make
    for process in made:
        await process.close()
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed and made:
        print(f"\n--- scheduler log ({made[0].log_path}) ---\n{made[-1].log()[-6000:]}")
    try:
        for process in made:
            process.check_log()
    finally:
        for process in made:   # after all have stopped: a restarted process may share the first one's dir
            process.remove_run_dir()
