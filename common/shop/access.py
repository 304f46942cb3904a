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
import orjson

from common.contract.outbox import Activation


@dataclass(frozen=True)
class Grant:
    user_id: int
    expires_at: datetime
    created: bool          # the user had no subscription row before
    activation_id: int | None


@dataclass(frozen=True)
class DaysWanted:
    """One grant of `grant_days_many`: the arguments of `grant_days`."""
    user_id: int
    days: int
    key: str
    traffic_limit_bytes: int | None = None
    plan_id: int | None = None
    is_trial: bool = False
    reason: str = "purchase"
    device_limit: int | None = None


async def grant_days(conn: asyncpg.Connection, user_id: int, days: int, *, key: str,
                     traffic_limit_bytes: int | None = None, plan_id: int | None = None,
                     is_trial: bool = False, reason: str = "purchase", device_limit: int | None = None) -> Grant:
    """Adds `days` to the user's subscription (creating it) and queues the activation `key`.

    Must run inside a transaction; the caller guarantees `key` is unique per grant (e.g.
    purchase:<id>), which is what makes a replayed grant impossible: the caller checks first.
    """
    [grant] = await grant_days_many(conn, [DaysWanted(user_id, days, key, traffic_limit_bytes, plan_id, is_trial,
                                                      reason, device_limit)])
    return grant


# One statement for any number of grants: the subscription rows upserted in user order (two
# transactions granting to the same users lock them in the same order, so they cannot deadlock),
# then each one's activation row. A column the grant leaves NULL keeps the row's value (plan,
# traffic limit) or falls back to the plan's (device limit); `wanted` is read again on conflict
# because a grant's days and NULLs are not columns of the row it inserts.
_GRANT = """
WITH wanted AS MATERIALIZED (
    SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::bool[], $5::int[], $6::int[], $7::text[],
                         $8::jsonb[])
           AS w(user_id, days, traffic_limit_bytes, is_trial, plan_id, device_limit, key, payload)),
granted AS (
    INSERT INTO subscriptions AS s (user_id, expires_at, traffic_limit_bytes, is_trial, plan_id, status,
                                    device_limit)
    SELECT w.user_id, now() + make_interval(days => w.days), coalesce(w.traffic_limit_bytes, 0), w.is_trial,
           w.plan_id, 'active', coalesce(w.device_limit, (SELECT device_limit FROM plans WHERE id = w.plan_id), 0)
    FROM wanted w ORDER BY w.user_id
    ON CONFLICT (user_id) DO UPDATE SET
        (expires_at, device_limit, traffic_limit_bytes, is_trial, plan_id) = (
            SELECT CASE WHEN s.frozen_at IS NOT NULL AND s.status = 'active' THEN s.expires_at
                        ELSE greatest(s.expires_at, now()) END + make_interval(days => w.days),
                   coalesce(w.device_limit, (SELECT device_limit FROM plans WHERE id = w.plan_id), s.device_limit),
                   coalesce(w.traffic_limit_bytes, s.traffic_limit_bytes),
                   s.is_trial AND w.is_trial,
                   coalesce(w.plan_id, s.plan_id)
            FROM wanted w WHERE w.user_id = excluded.user_id),
        status = 'active',
        updated_at = now()
    RETURNING s.user_id, s.expires_at, (s.xmax = 0) AS created),
activated AS (
    INSERT INTO activations (user_id, action, idempotency_key, payload)
    SELECT g.user_id, CASE WHEN g.created THEN $9::text ELSE $10::text END, w.key, w.payload
    FROM granted g JOIN wanted w ON w.user_id = g.user_id ORDER BY g.user_id
    ON CONFLICT (idempotency_key) DO NOTHING RETURNING user_id, id)
SELECT g.user_id, g.expires_at, g.created, a.id AS activation_id
FROM granted g LEFT JOIN activated a ON a.user_id = g.user_id"""


async def grant_days_many(conn: asyncpg.Connection, wanted: list[DaysWanted]) -> list[Grant]:
    """`grant_days` for several users in one statement; the grants in the order asked. One grant per
    user: a second for the same user would have to see the first one's expiry, so it is refused."""
    if not wanted:
        return []
    if len({w.user_id for w in wanted}) != len(wanted):
        raise ValueError("one grant per user in a batch")
    for w in wanted:
        if w.days <= 0:
            raise ValueError("days must be positive")
    rows = await conn.fetch(
        _GRANT, [w.user_id for w in wanted], [w.days for w in wanted], [w.traffic_limit_bytes for w in wanted],
        [w.is_trial for w in wanted], [w.plan_id for w in wanted], [w.device_limit for w in wanted],
        [w.key for w in wanted],
        [orjson.dumps({"reason": w.reason, "days": w.days}).decode() for w in wanted],
        str(Activation.ISSUE), str(Activation.EXTEND))
    by_user = {r["user_id"]: r for r in rows}
    return [Grant(user_id=w.user_id, expires_at=by_user[w.user_id]["expires_at"], created=by_user[w.user_id]["created"],
                  activation_id=by_user[w.user_id]["activation_id"]) for w in wanted]
