"""The health watcher: probes every panel server on a timer. Its verdicts choose where new users
go, close a breaker as soon as a panel is back, and show in `status`."""
from __future__ import annotations

import asyncio

from services.vpn_gateway.panels.pool import ServerPool


async def watch_health(pool: ServerPool, interval: float) -> None:
    while True:
        await pool.probe_all(timeout=max(1.0, min(interval, 10.0)))
        await asyncio.sleep(interval)  # a timer, not synchronisation
