from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from common.db.migrate import MigrationError, migrate, migration_files
from tests.support.postgres import PostgresServer


async def _new_db(server: PostgresServer, name: str) -> str:
    conn = await asyncpg.connect(server.admin_url)
    await conn.execute(f"DROP DATABASE IF EXISTS {name}")
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    return server.url(name)


async def test_applies_in_order_once_and_rerun_is_noop(pg_server: PostgresServer) -> None:
    url = await _new_db(pg_server, "mig_once")
    first = await migrate(url)
    assert first == [p.name for p in migration_files()]
    assert await migrate(url) == []
    conn = await asyncpg.connect(url)
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(first)
    assert await conn.fetchval("SELECT count(*) FROM plans WHERE is_active") >= 1
    await conn.close()


async def test_concurrent_runners_apply_each_file_once(pg_server: PostgresServer) -> None:
    url = await _new_db(pg_server, "mig_race")
    results = await asyncio.gather(*(migrate(url) for _ in range(4)))
    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(p.name for p in migration_files())


async def test_failed_migration_rolls_back_and_names_file(pg_server: PostgresServer, tmp_path: Path) -> None:
    url = await _new_db(pg_server, "mig_fail")
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
    with pytest.raises(MigrationError, match="0002_bad.sql"):
        await migrate(url, tmp_path)
    conn = await asyncpg.connect(url)
    assert await conn.fetchval("SELECT to_regclass('good') IS NOT NULL")
    assert not await conn.fetchval("SELECT to_regclass('half') IS NOT NULL")
    assert await conn.fetchval("SELECT array_agg(name) FROM schema_migrations") == ["0001_ok.sql"]
    await conn.close()
