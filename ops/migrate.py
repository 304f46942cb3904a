"""`atcs migrate`: creates the database when it is the embedded one, then applies migrations."""
from __future__ import annotations

import asyncio
import logging
import sys
import time

import asyncpg

from common.config import DatabaseSettings
from common.db.migrate import MigrationError, migrate
from common.logging import setup_logging

log = logging.getLogger("atcs.migrate")


async def ensure_embedded_database(settings: DatabaseSettings) -> None:
    admin_url = f"postgresql://postgres@127.0.0.1:{settings.embedded_pg_port}/postgres"
    conn = await asyncpg.connect(admin_url, timeout=settings.db_connect_timeout)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'atcs'"):
            await conn.execute("CREATE DATABASE atcs")
            log.info("created database atcs")
    finally:
        await conn.close()


async def run_migrations(wait: float) -> int:
    settings = DatabaseSettings()
    setup_logging("migrate")
    until = time.monotonic() + wait
    backoff = 0.2
    while True:
        try:
            if settings.embedded:
                await ensure_embedded_database(settings)
            applied = await migrate(settings.url(), timeout=settings.db_connect_timeout)
            log.info("migrations done", extra={"applied": applied})
            return 0
        except MigrationError as exc:
            print(f"atcs migrate: {exc}", file=sys.stderr)
            return 1
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            if time.monotonic() + backoff > until:
                print(f"atcs migrate: database not reachable: {exc or type(exc).__name__}", file=sys.stderr)
                return 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
