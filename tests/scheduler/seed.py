"""Rows the scheduler tests start from, written straight into the database."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg


async def add_users(conn: asyncpg.Connection, first: int, count: int, *, language: str = "en") -> list[int]:
    """Users first..first+count-1, in one statement (fast enough for a million)."""
    await conn.execute(
        """INSERT INTO users (id, username, first_name, language, referral_code)
           SELECT g, 'user' || g, 'Name ' || g, $3, 'r' || g FROM generate_series($1::bigint, $2::bigint) g""",
        first, first + count - 1, language)
    return list(range(first, first + count))


async def add_user(conn: asyncpg.Connection, user_id: int, *, balance: Decimal = Decimal("0"),
                   username: str | None = None, first_name: str = "", banned: bool = False,
                   blocked: bool = False) -> None:
    await conn.execute(
        """INSERT INTO users (id, username, first_name, referral_code, balance, is_banned, blocked_bot)
           VALUES ($1, $2, $3, 'r' || $1::bigint, $4, $5, $6)""",
        user_id, username if username is not None else f"user{user_id}", first_name or f"Name {user_id}",
        balance, banned, blocked)


async def add_subscription(conn: asyncpg.Connection, user_id: int, expires_at: datetime, *, trial: bool = False,
                           auto_renew: bool = False, plan: str | None = "month_1", status: str = "active") -> None:
    await conn.execute(
        """INSERT INTO subscriptions (user_id, expires_at, is_trial, auto_renew, plan_id, status)
           VALUES ($1, $2, $3, $4, (SELECT id FROM plans WHERE code = $5), $6)""",
        user_id, expires_at, trial, auto_renew, None if trial else plan, status)


def in_days(now: datetime, days: float) -> datetime:
    return now + timedelta(days=days)


async def add_joined_user(conn: asyncpg.Connection, user_id: int, *, joined_days_ago: int,
                          trial_days_ago: int | None = None) -> None:
    """A user who joined (and took the trial) a minute after midnight UTC, so many whole UTC days ago."""
    await conn.execute(
        """INSERT INTO users (id, username, first_name, referral_code, created_at, trial_used_at)
           VALUES ($1, 'user' || $1::bigint, 'Name', 'r' || $1::bigint,
                   date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                       - make_interval(days => $2) + interval '1 minute',
                   CASE WHEN $3::int IS NULL THEN NULL
                        ELSE date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                             - make_interval(days => $3::int) + interval '1 minute' END)""",
        user_id, joined_days_ago, trial_days_ago)


async def add_payment(conn: asyncpg.Connection, user_id: int, amount: str, currency: str, *, paid_days_ago: int,
                      method: str = "cryptobot", status: str = "paid") -> None:
    """A purchase paid a minute after midnight UTC, so many whole UTC days ago."""
    await conn.execute(
        """INSERT INTO purchases (user_id, plan_id, kind, method, amount, currency, status, paid_at)
           VALUES ($1, (SELECT id FROM plans WHERE code = 'month_1'), 'subscription', $2, $3::numeric, $4, $5,
                   date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                       - make_interval(days => $6) + interval '1 minute')""",
        user_id, method, amount, currency, status, paid_days_ago)
