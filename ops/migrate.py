"""`atcs migrate`: on the embedded server, makes the application's database and hands its schema
to the application's role (as the superuser); then applies migrations as the services' user."""
from __future__ import annotations

import asyncio
import logging
import sys
import time

import asyncpg

from common.settings.database import DatabaseSettings
from common.db.embedded_access import APP_DATABASE, provision
from common.db.migrate import MigrationError, migrate
from common.logging import setup_logging

log = logging.getLogger("atcs.migrate")


async def run_migrations(wait: float) -> int:
    settings = DatabaseSettings()
    setup_logging("migrate")
    until = time.monotonic() + wait
    backoff = 0.2
    while True:
        try:
            if settings.embedded and await provision(settings):
                log.info("created database", extra={"database": APP_DATABASE})
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
