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


async def test_nudge_loops_live_and_die_together(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 10.4: when one peer's loop fails, PeerNudges.run fails as a whole (its supervisor
    restarts it) and no other peer's loop is left running unowned beside the restart."""
    from common.ipc.nudges import PeerNudges

    class Client:
        def __init__(self) -> None:
            self.calls = 0

        async def call(self, method, body, timeout):
            self.calls += 1

    bot = Client()

    def client_for(peer: str) -> Client:
        if peer == "vpn_gateway":
            raise RuntimeError("no client for vpn_gateway")
        return bot

    nudger = PeerNudges(client_for, 0.1, ("vpn_gateway", "bot"))
    run = asyncio.create_task(nudger.run())
    nudger.nudge("bot")
    await wait_for(lambda: bot.calls == 1, timeout=5, message="the bot nudged")
    nudger.nudge("vpn_gateway")
    with pytest.raises(BaseException) as failure:
        await asyncio.wait_for(run, 5)
    assert "no client for vpn_gateway" in repr(failure.value)
    # The bot's loop went down with the run: a nudge now reaches nobody until the restart.
    nudger.nudge("bot")
    for _ in range(20):
        await asyncio.sleep(0)
    assert bot.calls == 1
    leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith("nudge-") or "_Peer.run" in repr(t)]
    assert leftovers == []


async def test_a_failed_rpc_request_task_is_logged_by_its_owner(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 10.4: the server's per-request tasks are forgotten when done; their failure is logged
    there and then, never left to the garbage collector's "Task exception was never retrieved"."""
    import gc

    import zmq.asyncio

    from common.contract.core import PING
    from common.ipc import RpcClient, RpcServer

    context = zmq.asyncio.Context()
    endpoint = f"ipc://{tmp_path}/s.ipc"
    server = RpcServer(context, endpoint, "testsvc")

    def refuse(identity: bytes, reply: bytes) -> None:   # the server sends synchronously, without blocking
        raise RuntimeError("reply could not be sent")

    server._send = refuse   # the one step of a request outside the handler's own error handling
    server.bind()
    serving = asyncio.create_task(server.serve())
    client = RpcClient(context, endpoint, attempt_timeout=0.2)
    try:
        with caplog.at_level(logging.ERROR):
            with pytest.raises(Exception):
                await client.call(PING, timeout=0.5)
            await wait_for(lambda: server.inflight == 0, timeout=5, message="request task done")
            gc.collect()
            await asyncio.sleep(0)
        messages = [r.getMessage() for r in caplog.records]
        assert "rpc request task failed" in messages, messages
        assert not any("never retrieved" in m for m in messages), messages
    finally:
        client.close()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        server.close()
        context.destroy(0)


async def test_a_task_cut_off_by_a_database_outage_is_a_warning_not_a_traceback(
        database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A service's query dies when PostgreSQL goes away under it (here: its backend is
    terminated): the task is retried with one warning line; a wrong query still pages with a
    traceback. Under load an outage used to print 'task crashed' tracebacks from the scheduler."""
    from common.db.database import is_outage
    runs: list[str] = []

    async with connected_database(database_url) as db, connected_database(database_url) as healthy:
        async def cut_off() -> None:
            runs.append("cut_off")
            async with db.acquire() as conn:
                pid = await conn.fetchval("SELECT pg_backend_pid()")
                async with db.acquire() as other:
                    await other.execute("SELECT pg_terminate_backend($1)", pid)
                await conn.fetchval("SELECT pg_sleep(0.01)")

        async def wrong() -> None:
            runs.append("wrong")
            async with healthy.acquire() as conn:
                await conn.fetchval("SELECT * FROM no_such_table")

        supervisor = TaskSupervisor(expected=is_outage)
        with caplog.at_level(logging.WARNING, logger="common.lifecycle.supervisor"):
            supervisor.start("cut_off", cut_off, restart=False, min_backoff=0.01)
            supervisor.start("wrong", wrong, restart=False, min_backoff=0.01)
            await wait_for(lambda: runs.count("cut_off") >= 2 and runs.count("wrong") >= 2, timeout=10,
                           message="both tasks to fail and be restarted")
        await supervisor.stop(timeout=1)

    by_task = {}
    for record in caplog.records:
        if record.name == "common.lifecycle.supervisor":
            by_task.setdefault(record.task, []).append(record)
    interrupted = by_task["cut_off"][0]
    assert interrupted.levelno == logging.WARNING and interrupted.exc_info is None
    assert "interrupted" in interrupted.getMessage()
    crashed = by_task["wrong"][0]
    assert crashed.levelno == logging.ERROR and crashed.exc_info is not None
