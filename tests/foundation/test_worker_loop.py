"""The one outbox worker loop (common/lifecycle/worker.py) over a real outbox table: a nudge
wakes it at once, the rescan timer makes up for a lost nudge, a lease that runs out lets another
claimer take the row, a crashing item is retried (not lost), and drain finishes the work in
flight before run() returns — which the task supervisor, draining, takes as the task's end."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from common.db.database import Database
from common.lifecycle.supervisor import TaskSupervisor
from common.lifecycle.worker import WorkerLoop, nudged
from common.shop.outbox import claim_due, enqueue_notification
from tests.support.database import connected_database
from tests.support.wait import wait_for

USER = 7001


@pytest.fixture
async def db(database_url: str):
    async with connected_database(database_url, size=4) as database:
        async with database.acquire() as conn:
            for user_id in (USER, USER + 1):
                await conn.execute("INSERT INTO users (id, referral_code) VALUES ($1, $2)", user_id, f"loop{user_id}")
        yield database


def claimer(db: Database, lease: float = 30.0) -> Callable[[int], Awaitable[list[asyncpg.Record]]]:
    async def claim(limit: int) -> list[asyncpg.Record]:
        async with db.acquire() as conn:
            return await claim_due(conn, "notifications", limit, lease, returning="o.id, o.user_id, o.attempts")
    return claim


async def enqueue(db: Database, user_id: int = USER, n: int = 1) -> list[int]:
    async with db.acquire() as conn:
        return [await enqueue_notification(conn, user_id, "test", {}) for _ in range(n)]


async def mark_sent(db: Database, row: asyncpg.Record) -> None:
    async with db.acquire() as conn:
        await conn.execute("UPDATE notifications SET state = 'sent' WHERE id = $1", row["id"])


async def states(db: Database) -> dict[int, tuple[str, int]]:
    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT id, state, attempts FROM notifications ORDER BY id")
    return {r["id"]: (r["state"], r["attempts"]) for r in rows}


async def all_sent(db: Database) -> bool:
    return all(state == "sent" for state, _ in (await states(db)).values())


class Running:
    """A loop's run() as a task that the test always stops."""

    def __init__(self, loop: WorkerLoop) -> None:
        self.loop = loop
        self.task = asyncio.create_task(loop.run())

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
async def running():
    started: list[Running] = []

    def start(loop: WorkerLoop) -> Running:
        started.append(Running(loop))
        return started[-1]
    yield start
    for run in started:
        await run.stop()


async def test_a_nudge_wakes_the_loop_at_once(db, running) -> None:
    done: list[int] = []

    async def work(row: asyncpg.Record) -> None:
        await mark_sent(db, row)
        done.append(row["id"])

    loop = WorkerLoop("test", db, claim=claimer(db), work=work, rescan=60.0)   # only a nudge can wake it in time
    running(loop)
    await wait_for(lambda: loop.passes >= 1 and bool(loop.wake._waiters), timeout=5,  # noqa: SLF001
                   message="the loop asleep after its first (empty) pass")
    [row_id] = await enqueue(db)
    loop.nudge()
    await wait_for(lambda: done == [row_id], timeout=2, message="the nudged row worked")


async def test_the_rescan_timer_picks_up_a_row_whose_nudge_was_lost(db, running) -> None:
    done: list[int] = []

    async def work(row: asyncpg.Record) -> None:
        await mark_sent(db, row)
        done.append(row["id"])

    loop = WorkerLoop("test", db, claim=claimer(db), work=work, rescan=0.2)
    running(loop)
    await wait_for(lambda: loop.passes >= 1, timeout=5, message="the first pass")
    ids = await enqueue(db, n=3)   # and no nudge
    await wait_for(lambda: sorted(done) == ids, timeout=5, message="the rows found by a rescan")


async def test_a_lease_that_runs_out_lets_another_claimer_take_the_row(db, running) -> None:
    """The first worker hangs on its row (a worker that died mid-item looks the same to the
    database); the second may not touch the row while the lease holds, and takes it after."""
    hung = asyncio.Event()
    taken_by_second: list[asyncpg.Record] = []

    async def hang(row: asyncpg.Record) -> None:
        hung.set()
        await asyncio.Event().wait()

    async def finish(row: asyncpg.Record) -> None:
        taken_by_second.append(row)
        await mark_sent(db, row)

    first = WorkerLoop("first", db, claim=claimer(db, lease=1.5), work=hang, rescan=0.1)
    [row_id] = await enqueue(db)
    running(first)
    await wait_for(hung.is_set, timeout=5, message="the first worker holding the row")
    async with db.acquire() as conn:
        assert await claim_due(conn, "notifications", 10, 30.0, returning="o.id") == [], "leased: not due"
    second = WorkerLoop("second", db, claim=claimer(db), work=finish, rescan=0.1)
    running(second)
    await wait_for(lambda: len(taken_by_second) == 1, timeout=10, message="the second worker taking the row")
    assert taken_by_second[0]["id"] == row_id and taken_by_second[0]["attempts"] == 2
    assert (await states(db))[row_id] == ("sent", 2)


async def test_a_crashing_item_is_retried_not_lost(db, running, caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[int] = []

    async def flaky(row: asyncpg.Record) -> None:
        attempts.append(row["id"])
        if attempts.count(row["id"]) == 1:
            raise RuntimeError("a bug on the first try")
        await mark_sent(db, row)

    async def put_back(row: asyncpg.Record, exc: BaseException) -> None:
        async with db.acquire() as conn:
            await conn.execute("UPDATE notifications SET next_attempt_at = now() WHERE id = $1", row["id"])

    loop = WorkerLoop("test", db, claim=claimer(db), work=flaky, rescan=0.1, concurrency=2, on_crash=put_back)
    ids = await enqueue(db, n=2)
    with caplog.at_level(logging.ERROR, logger="common.lifecycle.worker"):
        running(loop)
        await wait_for(lambda: all_sent(db), timeout=10, message="both rows sent on their second try")
    assert await states(db) == {row_id: ("sent", 2) for row_id in ids}
    assert loop.crashed == 2
    crashes = [r for r in caplog.records if "work failed" in r.getMessage()]
    assert len(crashes) == 2 and all(r.exc_info is not None for r in crashes), "a bug is a traceback"


async def test_without_on_crash_the_lease_brings_a_crashed_item_back(db, running) -> None:
    tries: list[int] = []

    async def flaky(row: asyncpg.Record) -> None:
        tries.append(row["attempts"])
        if len(tries) == 1:
            raise RuntimeError("crash")
        await mark_sent(db, row)

    [row_id] = await enqueue(db)
    running(WorkerLoop("test", db, claim=claimer(db, lease=0.5), work=flaky, rescan=0.1))
    await wait_for(lambda: all_sent(db), timeout=10, message="the row sent once its lease ran out")
    assert tries == [1, 2] and (await states(db))[row_id] == ("sent", 2)


async def test_drain_finishes_the_work_in_flight_then_the_task_ends_cleanly(
        db, caplog: pytest.LogCaptureFixture) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    claims = 0

    async def claim(limit: int) -> list[asyncpg.Record]:
        nonlocal claims
        claims += 1
        return await claimer(db)(limit)

    async def slow(row: asyncpg.Record) -> None:
        started.set()
        await release.wait()
        await mark_sent(db, row)

    loop = WorkerLoop("test", db, claim=claim, work=slow, rescan=0.1)
    supervisor = TaskSupervisor()
    [row_id] = await enqueue(db)
    with caplog.at_level(logging.INFO, logger="common.lifecycle.supervisor"):
        supervisor.start("worker", loop.run, min_backoff=0.01)
        await wait_for(started.is_set, timeout=5, message="the row in work")
        supervisor.drain()
        draining = asyncio.create_task(loop.drain(grace=10))
        await wait_for(lambda: loop.wake.is_set(), timeout=2, message="drain under way")
        claims_at_drain = claims
        await enqueue(db)           # due now, but a draining loop claims nothing more
        release.set()
        await asyncio.wait_for(draining, timeout=5)
        await wait_for(lambda: supervisor.names() == [], timeout=2, message="the task ended")
    assert (await states(db))[row_id] == ("sent", 1), "the row in flight was finished, not abandoned"
    assert claims == claims_at_drain
    messages = [r.getMessage() for r in caplog.records]
    assert "task finished after drain" in messages and not any("restarting" in m for m in messages)
    await supervisor.stop(timeout=1)


async def test_drain_cancels_what_outlasts_its_grace_and_the_lease_keeps_the_row(db) -> None:
    started = asyncio.Event()

    async def stuck(row: asyncpg.Record) -> None:
        started.set()
        await asyncio.Event().wait()

    loop = WorkerLoop("test", db, claim=claimer(db), work=stuck, rescan=0.1)
    [row_id] = await enqueue(db)
    task = asyncio.create_task(loop.run())
    await wait_for(started.is_set, timeout=5, message="the row in work")
    await asyncio.wait_for(loop.drain(grace=0.3), timeout=5)
    await asyncio.wait_for(task, timeout=2)     # returned, not cancelled
    assert loop.in_flight == 0
    assert (await states(db))[row_id] == ("pending", 1), "abandoned, to be claimed again"


async def test_batch_mode_keeps_each_lanes_order(db, running) -> None:
    order: list[tuple[int, int]] = []

    async def work(row: asyncpg.Record) -> None:
        order.append((row["user_id"], row["id"]))
        await mark_sent(db, row)   # the other lane runs meanwhile

    first = await enqueue(db, USER, n=4)
    second = await enqueue(db, USER + 1, n=4)
    loop = WorkerLoop("test", db, claim=claimer(db), work=work, rescan=0.1, concurrency=2, batch=3,
                      lane=lambda row: row["user_id"])
    running(loop)
    await wait_for(lambda: all_sent(db), timeout=10, message="every row sent")
    assert [i for user, i in order if user == USER] == first
    assert [i for user, i in order if user == USER + 1] == second


async def test_a_supervised_task_that_returns_before_drain_is_restarted() -> None:
    runs = 0

    async def returns() -> None:
        nonlocal runs
        runs += 1
        if runs > 2:
            await asyncio.Event().wait()

    supervisor = TaskSupervisor()
    supervisor.start("returns", returns, min_backoff=0.01)
    await wait_for(lambda: runs == 3, timeout=5, message="two restarts")
    supervisor.drain()
    await supervisor.stop(timeout=1)


async def test_a_cancel_just_after_the_nudge_is_not_swallowed() -> None:
    for _ in range(20):
        event = asyncio.Event()
        waiter = asyncio.create_task(nudged(event, 30))
        await wait_for(lambda: bool(event._waiters), timeout=2)  # noqa: SLF001 - asleep on it
        event.set()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
