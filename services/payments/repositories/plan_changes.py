"""plan_changes, and the one change a plan change makes to a subscription: the new plan, its days
and the free time carried over, from now."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg


@dataclass(frozen=True)
class Change:
    id: int
    user_id: int
    to_plan_id: int
    purchase_id: int | None
    days: int | None
    state: str


_COLUMNS = "id, user_id, to_plan_id, purchase_id, days, state"


async def by_request(conn: asyncpg.Connection, user_id: int, request_id: str) -> Change | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM plan_changes WHERE user_id = $1 AND request_id = $2",
                              user_id, request_id)
    return Change(**dict(row)) if row else None


async def lock_of_purchase(conn: asyncpg.Connection, purchase_id: int) -> Change | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM plan_changes WHERE purchase_id = $1 FOR UPDATE", purchase_id)
    return Change(**dict(row)) if row else None


async def insert(conn: asyncpg.Connection, *, user_id: int, request_id: str, from_plan_id: int, to_plan_id: int,
                 value_left: Decimal, purchase_id: int | None = None, days: int | None = None) -> int:
    return await conn.fetchval(
        """INSERT INTO plan_changes (user_id, request_id, from_plan_id, to_plan_id, value_left, purchase_id, days)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        user_id, request_id, from_plan_id, to_plan_id, value_left, purchase_id, days)


async def mark_done(conn: asyncpg.Connection, change_id: int, *, value_left: Decimal, from_balance: Decimal,
                    paid: Decimal, days: int, free_seconds: int) -> None:
    await conn.execute(
        """UPDATE plan_changes SET state = 'done', done_at = now(), value_left = $2, from_balance = $3, paid = $4,
                                  days = $5, free_seconds = $6
           WHERE id = $1""",
        change_id, value_left, from_balance, paid, days, free_seconds)


async def mark_failed(conn: asyncpg.Connection, change_id: int) -> None:
    await conn.execute("UPDATE plan_changes SET state = 'failed', done_at = now() WHERE id = $1", change_id)


async def lock_subscription(conn: asyncpg.Connection, user_id: int) -> bool:
    """Serialises everything that changes this user's plan (a second tap waits here, then sees the first)."""
    return await conn.fetchval("SELECT true FROM subscriptions WHERE user_id = $1 FOR UPDATE", user_id) or False


async def switch(conn: asyncpg.Connection, user_id: int, *, plan_id: int, days: int, free_seconds: int,
                 traffic_limit_bytes: int) -> datetime:
    """The subscription from now on: the new plan's days plus the free time carried over, and the
    new plan's device limit (the activation written with it takes it to the panel)."""
    return await conn.fetchval(
        """UPDATE subscriptions SET expires_at = now() + make_interval(days => $3, secs => $4), plan_id = $2,
                                   traffic_limit_bytes = $5, is_trial = false, status = 'active', updated_at = now(),
                                   device_limit = (SELECT device_limit FROM plans WHERE id = $2)
           WHERE user_id = $1 RETURNING expires_at""",
        user_id, plan_id, days, float(free_seconds), traffic_limit_bytes)
