"""Issue 10.5: closing the pool while connections are out. A connection goes back to the pool it
came from (no `'NoneType' object has no attribute 'release'`), and close() waits for work in
flight, then cancels it, and returns within its bound — on a real PostgreSQL."""
from __future__ import annotations

import asyncio

import asyncpg
import pytest

from common.db.database import Database, DatabaseUnavailable

BOUND = 2.0


async def _connected(url: str, size: int = 4) -> tuple[Database, asyncio.Task]:
    db = Database(url, size, acquire_timeout=1, connect_timeout=2)
    keeper = asyncio.create_task(db.keep_connected())
    assert await db.wait_ready(10), db.last_error
    return db, keeper


async def _stop_keeper(keeper: asyncio.Task) -> None:
    keeper.cancel()
    await asyncio.gather(keeper, return_exceptions=True)


async def _backends_of(url: str, application_name: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                                   application_name)
    finally:
        await conn.close()


async def test_a_connection_held_across_close_is_returned_and_its_work_finishes(pg_server) -> None:
    db, keeper = await _connected(pg_server.admin_url)
    await _stop_keeper(keeper)
    holding = asyncio.Event()
    go_on = asyncio.Event()

    async def holder() -> int:
        async with db.acquire() as conn:
            holding.set()
            await go_on.wait()
            return await conn.fetchval("SELECT 41 + 1")

    task = asyncio.create_task(holder())
    await holding.wait()
    loop = asyncio.get_running_loop()
    started = loop.time()
    closing = asyncio.create_task(db.close(timeout=BOUND))
    await asyncio.sleep(0)  # close() has begun: the pool is no longer lent out
    with pytest.raises(DatabaseUnavailable):
        async with db.acquire():
            pass
    go_on.set()
    assert await task == 42  # the work in flight finished on its own connection
    await closing
    assert loop.time() - started < BOUND


async def test_close_cancels_work_that_outlives_half_its_bound(pg_server) -> None:
    separator = "&" if "?" in pg_server.admin_url else "?"  # the URL may carry ?passfile= already
    url = pg_server.admin_url + separator + "application_name=close_cancels"
    db, keeper = await _connected(url)
    await _stop_keeper(keeper)
    running = asyncio.Event()

    async def endless() -> None:
        async with db.acquire() as conn:
            running.set()
            await conn.execute("SELECT pg_sleep(60)")

    tasks = [asyncio.create_task(endless()) for _ in range(3)]
    await running.wait()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await db.close(timeout=BOUND)
    elapsed = loop.time() - started
    assert BOUND / 2 <= elapsed < BOUND, elapsed
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:
        assert isinstance(outcome, asyncio.CancelledError | DatabaseUnavailable), repr(outcome)
    assert await _backends_of(pg_server.admin_url, "close_cancels") == 0


async def test_close_racing_in_flight_work_never_breaks_a_caller(pg_server) -> None:
    db, keeper = await _connected(pg_server.admin_url, size=3)
    await _stop_keeper(keeper)
    unexpected: list[BaseException] = []
    done = 0

    async def worker(n: int) -> None:
        nonlocal done
        while True:
            try:
                async with db.transaction() as conn:
                    await conn.fetchval("SELECT pg_sleep(0.01 * $1::int)", n % 4)
                done += 1
            except DatabaseUnavailable:
                return  # closed: the caller is told so, as when the database is down
            except BaseException as exc:  # noqa: BLE001 - anything else is the race
                unexpected.append(exc)
                raise

    workers = [asyncio.create_task(worker(n)) for n in range(12)]
    while done < 30:
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await db.close(timeout=BOUND)
    assert loop.time() - started < BOUND
    await asyncio.wait_for(asyncio.gather(*workers, return_exceptions=True), 1)
    assert unexpected == [], unexpected
