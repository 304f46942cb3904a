"""The admin chart's numbers: per UTC day, new users, trials started, payments received and the
money they brought, per currency. Index scans (0301) under a short statement timeout.

Revenue means what the bot's statistics screen means by it: purchases 'paid' through a provider
(Crypto Bot or Telegram Stars, XTR apart). Renewals paid from the balance are not counted again:
that money arrived as a top-up.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import asyncpg

STATEMENT_TIMEOUT_MS = 3000
_RECEIVED = "status = 'paid' AND method IN ('cryptobot', 'stars')"


@dataclass(frozen=True)
class DailyStats:
    days: list[date]                    # oldest first; the last is today (UTC)
    new_users: list[int]
    trials: list[int]                   # trials started that day
    payments: list[int]                 # purchases paid through a provider that day, any currency
    revenue: dict[str, list[Decimal]]   # currency -> amount per day; only currencies with a payment

    def revenue_total(self, currency: str) -> Decimal:
        return sum(self.revenue.get(currency, []), Decimal(0))


async def fetch(conn: asyncpg.Connection, days: int) -> DailyStats:
    """Raises asyncpg.QueryCanceledError when the statement timeout is hit."""
    async with conn.transaction(readonly=True):
        await conn.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        today: date = await conn.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
        # The first day's midnight, UTC, as a timestamptz: comparisons stay on the indexed columns.
        since = "(($1::date)::timestamp AT TIME ZONE 'UTC')"
        first = today - timedelta(days=days - 1)
        paid = await conn.fetch(
            f"""SELECT (paid_at AT TIME ZONE 'UTC')::date AS day, currency, sum(amount) AS amount, count(*) AS n
                FROM purchases WHERE {_RECEIVED} AND paid_at >= {since}
                GROUP BY 1, 2""", first)
        joined = await conn.fetch(
            f"""SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n
                FROM users WHERE created_at >= {since} GROUP BY 1""", first)
        trials = await conn.fetch(
            f"""SELECT (trial_used_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n
                FROM users WHERE trial_used_at >= {since} GROUP BY 1""", first)
    calendar = [first + timedelta(days=i) for i in range(days)]
    index = {day: i for i, day in enumerate(calendar)}

    def per_day(rows: list[asyncpg.Record]) -> list[int]:
        counts = [0] * days
        for row in rows:
            if row["day"] in index:
                counts[index[row["day"]]] += row["n"]
        return counts

    revenue: dict[str, list[Decimal]] = {}
    for row in paid:
        if row["day"] in index:
            revenue.setdefault(row["currency"], [Decimal(0)] * days)[index[row["day"]]] += row["amount"]
    return DailyStats(days=calendar, new_users=per_day(joined), trials=per_day(trials), payments=per_day(paid),
                      revenue=revenue)
