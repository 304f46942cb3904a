"""What payments reads from the shop's core tables (users; plans are read through
common.shop.plans); and the one change it makes to a subscription outside common.shop.access
(taking back the days or traffic a refund returns)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg
import orjson


@dataclass(frozen=True)
class Customer:
    id: int
    is_banned: bool
    referred_by: int | None
    language: str


async def customer(conn: asyncpg.Connection, user_id: int) -> Customer | None:
    row = await conn.fetchrow("SELECT id, is_banned, referred_by, language FROM users WHERE id = $1", user_id)
    return None if row is None else Customer(**dict(row))


async def insert_referral_bonus(conn: asyncpg.Connection, invitee_id: int, referrer_id: int,
                                purchase_id: int, days: int) -> bool:
    """False when the invitee already earned their referrer a bonus (the primary key says once)."""
    inserted = await conn.fetchval(
        """INSERT INTO referral_bonuses (invitee_id, referrer_id, purchase_id, days) VALUES ($1, $2, $3, $4)
           ON CONFLICT (invitee_id) DO NOTHING RETURNING true""",
        invitee_id, referrer_id, purchase_id, days)
    return bool(inserted)


async def take_back_days(conn: asyncpg.Connection, user_id: int, days: int) -> tuple[datetime, bool] | None:
    """Shortens the subscription by the days a refunded purchase bought; revokes it when nothing
    is left. Returns (new expiry, revoked), or None when the user has no subscription."""
    row = await conn.fetchrow(
        """UPDATE subscriptions SET
               expires_at = expires_at - make_interval(days => $2),
               status = CASE WHEN expires_at - make_interval(days => $2) <= now() THEN 'revoked' ELSE status END,
               updated_at = now()
           WHERE user_id = $1
           RETURNING expires_at, status = 'revoked' AS revoked""",
        user_id, days)
    return None if row is None else (row["expires_at"], row["revoked"])


async def stars_value(conn: asyncpg.Connection, plan_id: int | None, stars: Decimal) -> Decimal:
    """What `stars` paid for a plan are worth in the shop's currency, at that plan's own
    price-to-Stars ratio (as common/shop/proration.py counts them), cents rounded half up."""
    value = await conn.fetchval(
        "SELECT round($2::numeric * price / nullif(stars_price, 0), 2) FROM plans WHERE id = $1", plan_id, stars)
    return value if value is not None else Decimal("0.00")


async def take_back_traffic(conn: asyncpg.Connection, user_id: int, package_bytes: int) -> bool:
    """A refunded traffic package leaves the subscription's extra bytes (never below none)."""
    done = await conn.fetchval(
        """UPDATE subscriptions SET extra_traffic_bytes = greatest(extra_traffic_bytes - $2, 0), updated_at = now()
           WHERE user_id = $1 RETURNING true""", user_id, package_bytes)
    return bool(done)


async def audit(conn: asyncpg.Connection, admin_id: int, action: str, target: str, detail: dict) -> None:
    """The audit row of an action that may be reported again (an admin's retried refund): once per target."""
    await conn.execute(
        """INSERT INTO admin_audit (admin_id, action, target, detail)
           SELECT $1, $2, $3, $4::jsonb
           WHERE NOT EXISTS (SELECT 1 FROM admin_audit WHERE action = $2 AND target = $3)""",
        admin_id, action, target, orjson.dumps(detail, default=str).decode())
