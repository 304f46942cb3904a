"""star_subscriptions: one row per Telegram Stars subscription, from its first settled charge."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

# Telegram's only subscription period (30 days): also how far a charge without a reported
# expiration (one found in getStarTransactions) moves the period's end.
PERIOD_SECONDS = 2592000


@dataclass(frozen=True)
class StarSubscription:
    purchase_id: int
    user_id: int
    charge_id: str
    plan_id: int | None
    amount: int
    period_end: datetime | None
    canceled: bool
    renewals: int
    canceled_by_refund: int | None = None   # the refunded purchase that cancelled it (migration 0170)


_COLUMNS = "purchase_id, user_id, charge_id, plan_id, amount, period_end, canceled, renewals, canceled_by_refund"


async def record_charge(conn: asyncpg.Connection, *, first_purchase_id: int, user_id: int, charge_id: str,
                        plan_id: int | None, amount: int, period_end: datetime | None, renewal: bool) -> None:
    """A settled charge of a subscription: the first one creates the row, a renewal counts and
    moves the period's end (never backwards: charges may be reported out of order)."""
    await conn.execute(
        """INSERT INTO star_subscriptions (purchase_id, user_id, charge_id, plan_id, amount, period_end, canceled,
                                           renewals)
            VALUES ($1, $2, $3, $4, $5, coalesce($6, now() + make_interval(secs => $8)), false, $7::int)
            ON CONFLICT (purchase_id) DO UPDATE SET
                renewals = star_subscriptions.renewals + $7::int,
                period_end = greatest(star_subscriptions.period_end,
                                      coalesce($6, star_subscriptions.period_end + make_interval(secs => $8))),
                updated_at = now()""",
        first_purchase_id, user_id, charge_id, plan_id, amount, period_end, 1 if renewal else 0,
        float(PERIOD_SECONDS))


async def latest(conn: asyncpg.Connection, user_id: int) -> StarSubscription | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM star_subscriptions WHERE user_id = $1 ORDER BY created_at DESC, purchase_id DESC LIMIT 1",
        user_id)
    return None if row is None else StarSubscription(**dict(row))


async def get(conn: asyncpg.Connection, purchase_id: int) -> StarSubscription | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM star_subscriptions WHERE purchase_id = $1", purchase_id)
    return None if row is None else StarSubscription(**dict(row))


async def set_canceled(conn: asyncpg.Connection, purchase_id: int, canceled: bool) -> StarSubscription | None:
    """The user's switch. None when a refund cancelled the subscription meanwhile: that stands."""
    row = await conn.fetchrow(
        f"""UPDATE star_subscriptions SET canceled = $2, updated_at = now()
            WHERE purchase_id = $1 AND canceled_by_refund IS NULL
            RETURNING {_COLUMNS}""",
        purchase_id, canceled)
    return None if row is None else StarSubscription(**dict(row))
