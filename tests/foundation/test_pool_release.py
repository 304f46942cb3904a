"""A connection goes back to the pool without a round trip (asyncpg's default RESET ALL cost one
per release, the most frequent statement of the bot), and still comes back clean: a transaction left
open is rolled back. Real PostgreSQL."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg

from common.db.database import Database

ROOT = Path(__file__).resolve().parents[2]


async def _connected(url: str) -> tuple[Database, asyncio.Task]:
    # One connection, so every acquire gets the same backend; the keeper probes rarely.
    db = Database(url, 1, acquire_timeout=2, connect_timeout=2, probe_interval=3600)
    keeper = asyncio.create_task(db.keep_connected())
    assert await db.wait_ready(10), db.last_error
    return db, keeper


async def _last_statement_of(url: str, pid: int) -> str:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
    finally:
        await conn.close()


async def test_releasing_a_connection_sends_nothing_to_the_server(database_url: str) -> None:
    db, keeper = await _connected(database_url)
    try:
        for n in range(3):
            async with db.acquire() as conn:
                pid = conn.get_server_pid()
                assert await conn.fetchval(f"SELECT {n} + 40") == n + 40
        # The backend's last statement is still ours: the release added none.
        assert await _last_statement_of(database_url, pid) == "SELECT 2 + 40"
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
        await db.close()


async def test_a_transaction_left_open_is_rolled_back_on_release(database_url: str) -> None:
    db, keeper = await _connected(database_url)
    try:
        async with db.acquire() as conn:
            await conn.execute("CREATE TABLE release_probe (n int)")
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO release_probe VALUES (1)")
        async with db.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM release_probe") == 0
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
        await db.close()


# Session state a pooled connection must never take, since nothing resets it on release.
_SESSION_STATE = re.compile(r"""["']\s*(SET\s+(?!LOCAL\b)|LISTEN\b)|pg_advisory_lock|pg_try_advisory_lock|add_listener""",
                            re.IGNORECASE)
# These hold their own connection (never one from the pool) for what they do.
_OWN_CONNECTION = {"common/db/leader_lock.py", "common/db/advisory.py", "services/scheduler/repositories/leader.py",
                   "common/db/migrate.py", "common/db/embedded_access.py"}


def test_no_pooled_code_takes_session_state() -> None:
    offenders = []
    for folder in ("common", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            where = path.relative_to(ROOT).as_posix()
            if where in _OWN_CONNECTION:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if _SESSION_STATE.search(line):
                    offenders.append(f"{where}:{number}: {line.strip()}")
    assert not offenders, "session state on a pooled connection (use SET LOCAL, or a connection of its own):\n" + "\n".join(offenders)
