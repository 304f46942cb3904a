"""What "My subscription" shows: the subscription row, the VPN account, the balance."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from common.shop.traffic import panel_limit


@dataclass(frozen=True)
class SubscriptionView:
    expires_at: datetime | None
    status: str | None
    is_trial: bool
    auto_renew: bool
    traffic_limit_bytes: int
    plan_code: str | None
    access_key: str | None       # secret: rendered for its owner only, never logged
    backend: str | None
    used_bytes: int | None
    used_checked_at: datetime | None
    balance: Decimal
    extra_traffic_bytes: int = 0  # bought in traffic packages, on top of the plan's traffic_limit_bytes
    # The user's latest Telegram Stars subscription (payments' star_subscriptions), if any.
    stars_amount: int | None = None
    stars_period_end: datetime | None = None
    stars_canceled: bool = False
    stars_refund_canceled: bool = False   # a refund of one of its charges cancelled it (for good)
    device_limit: int = 0
    frozen_at: datetime | None = None     # paused since (common/shop/freeze.py)
    frozen_until: datetime | None = None  # ...until, when it resumes by itself

    @property
    def exists(self) -> bool:
        return self.expires_at is not None

    @property
    def limit_bytes(self) -> int:
        """The limit the panel holds (0 = unlimited): the plan's allowance plus the packages."""
        return panel_limit(self.traffic_limit_bytes, self.extra_traffic_bytes)

    @property
    def has_stars_subscription(self) -> bool:
        return self.stars_amount is not None

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None and self.status == "active"


async def overview(conn: asyncpg.Connection, user_id: int) -> SubscriptionView:
    row = await conn.fetchrow(
        """SELECT s.expires_at, s.status, coalesce(s.is_trial, false) AS is_trial,
                  coalesce(s.auto_renew, false) AS auto_renew,
                  coalesce(s.traffic_limit_bytes, 0) AS traffic_limit_bytes, p.code AS plan_code,
                  CASE WHEN a.status = 'active' THEN a.access_key END AS access_key, a.backend,
                  a.used_bytes, a.used_checked_at, u.balance,
                  coalesce(s.extra_traffic_bytes, 0) AS extra_traffic_bytes,
                  ss.amount AS stars_amount, ss.period_end AS stars_period_end,
                  coalesce(ss.canceled, false) AS stars_canceled,
                  ss.canceled_by_refund IS NOT NULL AS stars_refund_canceled,
                  coalesce(s.device_limit, 0) AS device_limit, s.frozen_at, s.frozen_until
           FROM users u
           LEFT JOIN subscriptions s ON s.user_id = u.id
           LEFT JOIN plans p ON p.id = s.plan_id
           LEFT JOIN vpn_accounts a ON a.user_id = u.id
           LEFT JOIN LATERAL (SELECT amount, period_end, canceled, canceled_by_refund FROM star_subscriptions
                              WHERE user_id = u.id ORDER BY created_at DESC, purchase_id DESC LIMIT 1) ss ON true
           WHERE u.id = $1""",
        user_id)
    return SubscriptionView(**dict(row))


async def toggle_auto_renew(conn: asyncpg.Connection, user_id: int) -> bool | None:
    """Flips auto-renew; None when the user has no subscription to renew."""
    return await conn.fetchval(
        """UPDATE subscriptions SET auto_renew = NOT auto_renew, updated_at = now()
           WHERE user_id = $1 RETURNING auto_renew""",
        user_id)


@dataclass(frozen=True)
class KeyView:
    access_key: str | None
    backend: str | None
    expires_at: datetime | None


async def keys_of(conn: asyncpg.Connection, user_ids: list[int]) -> dict[int, KeyView]:
    rows = await conn.fetch(
        """SELECT a.user_id, CASE WHEN a.status = 'active' THEN a.access_key END AS access_key,
                  a.backend, coalesce(s.expires_at, a.expires_at) AS expires_at
           FROM vpn_accounts a LEFT JOIN subscriptions s ON s.user_id = a.user_id
           WHERE a.user_id = ANY($1::bigint[])""",
        user_ids)
    return {r["user_id"]: KeyView(r["access_key"], r["backend"], r["expires_at"]) for r in rows}
