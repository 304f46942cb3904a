"""The admin's statistics: a handful of aggregate queries over indexed columns (0301), run
under a short statement timeout so a slow database cannot hold the screen (or the pool) long.

Revenue is money received from a provider: purchases 'paid' by Crypto Bot or Stars, per
currency (Stars, XTR, apart). Renewals paid from the balance are not counted again: that money
arrived as a top-up. Days are UTC days. The chart's daily numbers are the scheduler's
(services/scheduler/repositories/daily_stats.py), which draws it.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg

STATEMENT_TIMEOUT_MS = 3000
_TODAY = "(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
_RECEIVED = "status = 'paid' AND method IN ('cryptobot', 'stars')"


@dataclass(frozen=True)
class Revenue:
    currency: str
    today: Decimal
    week: Decimal
    month: Decimal
    payments: int


@dataclass(frozen=True)
class Overview:
    users: int
    users_today: int
    users_month: int
    active: int
    active_trials: int
    trials_taken: int
    trials_converted: int     # took the trial, then paid
    revenue: list[Revenue]    # fiat currencies first, Stars (XTR) last

    @property
    def conversion(self) -> float | None:
        return self.trials_converted / self.trials_taken if self.trials_taken else None


async def _short(conn: asyncpg.Connection) -> None:
    await conn.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")


async def overview(conn: asyncpg.Connection) -> Overview:
    """Raises asyncpg.QueryCanceledError when the statement timeout is hit."""
    async with conn.transaction():
        await _short(conn)
        counts = await conn.fetchrow(
            f"""SELECT
                  (SELECT count(*) FROM users) AS users,
                  (SELECT count(*) FROM users WHERE created_at >= {_TODAY}) AS users_today,
                  (SELECT count(*) FROM users WHERE created_at >= now() - interval '30 days') AS users_month,
                  (SELECT count(*) FROM subscriptions WHERE status = 'active' AND expires_at > now()) AS active,
                  (SELECT count(*) FROM subscriptions
                    WHERE status = 'active' AND expires_at > now() AND is_trial) AS active_trials,
                  (SELECT count(*) FROM users WHERE trial_used_at IS NOT NULL) AS trials_taken,
                  (SELECT count(*) FROM users u WHERE u.trial_used_at IS NOT NULL AND EXISTS (
                      SELECT 1 FROM purchases p
                      WHERE p.user_id = u.id AND p.status = 'paid' AND p.method IN ('cryptobot', 'stars')
                        AND p.paid_at >= u.trial_used_at)) AS trials_converted""")
        rows = await conn.fetch(
            f"""SELECT currency,
                       coalesce(sum(amount) FILTER (WHERE paid_at >= {_TODAY}), 0) AS today,
                       coalesce(sum(amount) FILTER (WHERE paid_at >= now() - interval '7 days'), 0) AS week,
                       sum(amount) AS month, count(*) AS payments
                FROM purchases
                WHERE {_RECEIVED} AND paid_at >= now() - interval '30 days'
                GROUP BY currency
                ORDER BY currency = 'XTR', currency""")
    return Overview(**dict(counts), revenue=[Revenue(**dict(r)) for r in rows])
