"""At start, say clearly whether the configured pools fit the server's max_connections."""
from __future__ import annotations

import logging

import asyncpg

from common.settings.database import DatabaseSettings
from common.settings.ipc import SERVICES

log = logging.getLogger(__name__)
# Migrations, psql and pg_dump need a few connections beside the pools.
HEADROOM = 5


def planned_connections(settings: DatabaseSettings) -> int:
    return sum(settings.pool_size(service) for service in SERVICES)


async def check_capacity(conn: asyncpg.Connection, service: str, settings: DatabaseSettings | None = None) -> bool:
    settings = settings or DatabaseSettings()
    limit = int(await conn.fetchval("SHOW max_connections"))
    reserved = int(await conn.fetchval("SHOW superuser_reserved_connections"))
    planned = planned_connections(settings)
    available = limit - reserved
    if planned + HEADROOM > available:
        log.error(
            "configured pools do not fit the database",
            extra={"planned": planned, "headroom": HEADROOM, "max_connections": limit,
                   "reserved": reserved, "hint": "lower ATCS_POOL_* or raise max_connections"},
        )
        return False
    log.info("pool sizes fit the database", extra={"service": service, "planned": planned, "max_connections": limit})
    return True
