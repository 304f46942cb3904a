"""Leader lock: one scheduler works, a second stays idle (and says so), takes over when the first
dies, and a leader whose lock connection is cut stops its work and wins the lock back."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import asyncpg

from common.contract.scheduler import BROADCAST_STATE, START_BROADCAST, BroadcastQuery, StartBroadcast
from services.scheduler.leader import LeaderLock
from tests.scheduler.process import ADMIN_ID
from tests.scheduler.seed import add_users
from tests.support.wait import wait_for


def _lock(url: str) -> LeaderLock:
    return LeaderLock(url, retry_interval=0.1, check_interval=0.1, connect_timeout=2.0)


class _Work:
    """Leader work that records whether it is running."""

    def __init__(self) -> None:
        self.running = 0
        self.starts = 0

    async def __call__(self) -> None:
        self.running += 1
        self.starts += 1
        try:
            await asyncio.Event().wait()
        finally:
            self.running -= 1


async def test_only_one_leader_and_the_standby_takes_over(database_url: str) -> None:
    first, second = _lock(database_url), _lock(database_url)
    first_work, second_work = _Work(), _Work()
    first_task = asyncio.create_task(first.run(first_work))
    await wait_for(lambda: first.is_leader, timeout=5, message="first leader")
    second_task = asyncio.create_task(second.run(second_work))
    await wait_for(lambda: "another scheduler is leader" in second.reason, timeout=5, message="second standby")
    assert second.readiness()[0] is False and first.readiness() == (True, "")
    assert first.name in (second.holder or "")
    assert second_work.starts == 0 and first_work.running == 1

    first_task.cancel()
    await asyncio.gather(first_task, return_exceptions=True)
    assert first_work.running == 0, "work stops with leadership"
    await wait_for(lambda: second.is_leader, timeout=5, message="second takes over")
    assert second_work.running == 1
    second_task.cancel()
    await asyncio.gather(second_task, return_exceptions=True)


async def test_lost_lock_connection_stops_work_then_leads_again(database_url: str) -> None:
    lock, work = _lock(database_url), _Work()
    task = asyncio.create_task(lock.run(work))
    await wait_for(lambda: lock.is_leader, timeout=5, message="leader")
    admin = await asyncpg.connect(database_url)
    try:
        # What a database restart does to the lock's session.
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", lock.name)
        assert killed == 1
        try:
            # A bound against a hang, not a speed claim: each new connection may take up to its 2 s
            # connect timeout on a busy machine (a new backend is a fork) and is then tried again.
            await wait_for(lambda: work.starts == 2 and lock.is_leader, timeout=30, message="leader again")
        except AssertionError as exc:   # say where it stood: still standby (and why), or leading without work
            raise AssertionError(f"{exc}; lock {lock.describe()}, work started {work.starts}x") from None
        assert lock.elections == 2 and work.running == 1
    finally:
        await admin.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert work.running == 0


def _readyz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_second_process_is_idle_serves_rpc_and_takes_over_after_kill(conn: asyncpg.Connection, standin,
                                                                          scheduler_factory) -> None:
    await add_users(conn, 5_000_000, 20)
    first, second = scheduler_factory(), scheduler_factory()   # separate run dirs: separate endpoints
    first.start()
    await wait_for(first.is_leader, timeout=20, message="first leader")
    second.start()
    # Every scheduler starts as standby ("starting"): wait for the one that tried the lock and lost.
    async def lost_the_election() -> tuple[int, dict] | None:
        status, body = await asyncio.to_thread(_readyz, second.health_port)
        reason = body.get("reasons", {}).get("leader", "")
        return (status, body) if reason.startswith("standby: another scheduler is leader") else None
    status, body = await wait_for(lost_the_election, timeout=20, message="second standby behind the leader")
    assert status == 503 and await _role_is(second, "standby")
    assert (await asyncio.to_thread(_readyz, first.health_port))[0] == 200
    assert (await second.status())["details"]["leader"]["tasks"] == []
    assert "atcs_scheduler_leader 1.0" in await asyncio.to_thread(_metrics, first.health_port)
    assert "atcs_scheduler_leader 0.0" in await asyncio.to_thread(_metrics, second.health_port)

    # A job started through the standby is done by the leader (woken by NOTIFY).
    state = await second.client().call(START_BROADCAST, StartBroadcast(
        admin_id=ADMIN_ID, request_id="via-standby", text="hello"))

    async def done():
        current = await second.client().call(BROADCAST_STATE, BroadcastQuery(broadcast_id=state.broadcast_id))
        return current.state == "done" and current.sent == 20
    await wait_for(done, timeout=15, message="broadcast done by the leader")

    first.kill()
    await wait_for(second.is_leader, timeout=10, message="standby takes over")
    assert (await asyncio.to_thread(_readyz, second.health_port))[0] == 200


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        return response.read().decode()


async def _role_is(process, role: str) -> bool:
    return await process.role() == role
