"""Granting access: the one function every path that gives a user days goes through.

Renewal extends from the current expiry when it is still in the future, never overwrites it, and
the activation row that makes the panel match is written in the same transaction. Days given to a
paused subscription are added to the days it keeps (they resume with it, common/shop/freeze.py).
The device limit is the plan's (the subscription keeps the one of the plan last bought), or
`device_limit` where there is no plan (the trial).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from common.contract.outbox import Activation
from common.shop.outbox import enqueue_activation


@dataclass(frozen=True)
class Grant:
    user_id: int
    expires_at: datetime
    created: bool          # the user had no subscription row before
    activation_id: int | None


async def grant_days(conn: asyncpg.Connection, user_id: int, days: int, *, key: str,
                     traffic_limit_bytes: int | None = None, plan_id: int | None = None,
                     is_trial: bool = False, reason: str = "purchase", device_limit: int | None = None) -> Grant:
    """Adds `days` to the user's subscription (creating it) and queues the activation `key`.

    Must run inside a transaction; the caller guarantees `key` is unique per grant (e.g.
    purchase:<id>), which is what makes a replayed grant impossible: the caller checks first.
    """
    if days <= 0:
        raise ValueError("days must be positive")
    row = await conn.fetchrow(
        """INSERT INTO subscriptions (user_id, expires_at, traffic_limit_bytes, is_trial, plan_id, status,
                                      device_limit)
           VALUES ($1, now() + make_interval(days => $2), coalesce($3::bigint, 0), $4, $5, 'active',
                   coalesce($6::int, (SELECT device_limit FROM plans WHERE id = $5), 0))
           ON CONFLICT (user_id) DO UPDATE SET
               expires_at = CASE WHEN subscriptions.frozen_at IS NOT NULL AND subscriptions.status = 'active'
                                 THEN subscriptions.expires_at
                                 ELSE greatest(subscriptions.expires_at, now()) END + make_interval(days => $2),
               device_limit = coalesce($6::int, (SELECT device_limit FROM plans WHERE id = $5),
                                       subscriptions.device_limit),
               traffic_limit_bytes = coalesce($3, subscriptions.traffic_limit_bytes),
               is_trial = subscriptions.is_trial AND $4,
               plan_id = coalesce($5, subscriptions.plan_id),
               status = 'active',
               updated_at = now()
           RETURNING expires_at, (xmax = 0) AS created""",
        user_id, days, traffic_limit_bytes, is_trial, plan_id, device_limit)
    action = Activation.ISSUE if row["created"] else Activation.EXTEND
    activation_id = await enqueue_activation(conn, user_id, action, key, {"reason": reason, "days": days})
    return Grant(user_id=user_id, expires_at=row["expires_at"], created=row["created"], activation_id=activation_id)
