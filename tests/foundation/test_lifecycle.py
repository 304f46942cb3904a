from __future__ import annotations

import asyncio
import logging

import pytest

from common.db.database import Database, DatabaseUnavailable
from common.lifecycle.context import ServiceContext
from common.lifecycle.metrics import Metrics
from common.lifecycle.supervisor import TaskSupervisor
from tests.support.database import connected_database
from tests.support.ports import free_port
from tests.support.wait import wait_for


async def test_crashed_task_is_logged_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    runs = 0
    restarts: list[str] = []

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise RuntimeError(f"crash {runs}")
        await asyncio.Event().wait()

    supervisor = TaskSupervisor(on_restart=restarts.append)
    with caplog.at_level(logging.ERROR):
        supervisor.start("flaky", flaky, min_backoff=0.01)
        await wait_for(lambda: runs == 3, timeout=5)
    assert restarts == ["flaky", "flaky"]
    assert "crash 2" in (supervisor.last_error or "")
    assert sum("task crashed" in r.getMessage() for r in caplog.records) == 2
    await supervisor.stop(timeout=1)
    assert supervisor.names() == []


async def test_database_down_fails_fast_and_recovers(pg_server) -> None:
    dead = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", 2, connect_timeout=0.5)
    keeper = asyncio.create_task(dead.keep_connected())
    with pytest.raises(DatabaseUnavailable):
        async with dead.acquire():
            pass
    await wait_for(lambda: dead.last_error is not None, timeout=5)
    assert dead.ready is False
    keeper.cancel()
    await asyncio.gather(keeper, return_exceptions=True)

    live = Database(pg_server.admin_url, 2)
    keeper = asyncio.create_task(live.keep_connected())
    assert await live.wait_ready(10)
    async with live.acquire() as conn:
        assert await conn.fetchval("SELECT 41 + 1") == 42
    keeper.cancel()
    await asyncio.gather(keeper, return_exceptions=True)
    await live.close()


async def test_a_db_queue_counts_on_the_service_pool(pg_server) -> None:
    async with connected_database(pg_server.admin_url) as db:
        ctx = ServiceContext(name="test", settings=None, db=db, zmq=None, rpc=None, metrics=Metrics("test"),
                             tasks=None)

        async def three(conn) -> int:
            return await conn.fetchval("SELECT 3")
        ctx.add_db_queue("things", three)

        assert await ctx.queue_depths() == {"things": 3}
