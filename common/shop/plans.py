"""Plans on sale (seeded by migration 0001, edited by admins later): the bot lists them, payments
prices a purchase from one. A plan that is not active is, to both, not there."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg


@dataclass(frozen=True)
class Plan:
    id: int
    code: str
    days: int
    price: Decimal
    stars_price: int
    traffic_gb: int
    device_limit: int = 0             # devices at once, 0 = no limit


_COLUMNS = "id, code, days, price, stars_price, traffic_gb, device_limit"


async def active(conn: asyncpg.Connection) -> list[Plan]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM plans WHERE is_active ORDER BY sort_order, id")
    return [Plan(**dict(r)) for r in rows]


async def get_active(conn: asyncpg.Connection, plan_id: int) -> Plan | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM plans WHERE id = $1 AND is_active", plan_id)
    return Plan(**dict(row)) if row else None
