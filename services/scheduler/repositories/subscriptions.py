"""SQL of the timed jobs on subscriptions: who is due a reminder, a trial notice, expiry or renewal.

"Once per subscription period" is carried by idempotency keys that name the period by the UTC
date of the expiry they are about: a renewal moves expires_at, which starts a new period with
new keys. The keys are built here, in SQL, because each candidate query must skip the rows whose
key already exists — this module is the one place that knows their layout:

    reminder:<user>:<expiry date>:<N>d        notification EXPIRY_REMINDER
    stars_renews:<user>:<renewal date>         notification STARS_RENEWS (the Stars period's end, not expires_at)
    trial_ending:<user>:<expiry date>          notification TRIAL_ENDING
    expire:<user>:<expires_at, ISO UTC>        activation EXPIRE
    expired:<user>:<expiry date>               notification SUBSCRIPTION_EXPIRED
    renewal:<user>:<expiry date>               balance_ledger reference (kind renewal) and activation
    auto_renewed:<user>:<expiry date>          notification AUTO_RENEWED
    auto_renew_failed:<user>:<expiry date>     notification AUTO_RENEW_FAILED

A paused subscription (frozen_at set, common/shop/freeze.py) is no candidate for any of them: its
days are not running. `thaw_due` finds the pauses that have reached their end.

A subscription that Telegram renews by itself (an active Telegram Stars subscription: not
cancelled by the user or a refund, its paid period not over) gets no expiry reminder and no
renewal from the balance: Telegram charges at the period's end and the charge's days extend it.
Its user is told once per period, before the charge, that it renews by itself (STARS_RENEWS).

Every candidate query pages by (expires_at, user_id) after the last row seen, so one pass ends
even when some rows are skipped.
"""
from __future__ import annotations

from datetime import datetime

import asyncpg

_DATE = "to_char(s.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
_STAMP = """to_char(s.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
_PERIOD = f"s.user_id || ':' || {_DATE}"
FIRST = (datetime.fromisoformat("1970-01-01T00:00:00+00:00"), 0)
Cursor = tuple[datetime, int]

# payments' star_subscriptions row of a subscription Telegram will renew: not cancelled, paid
# period running at `now`, which is $1 in every query that uses it.
_STARS_RENEWS = """EXISTS (SELECT 1 FROM star_subscriptions ss
                           WHERE ss.user_id = s.user_id AND NOT ss.canceled AND ss.period_end > $1::timestamptz)"""


async def reminder_candidates(conn: asyncpg.Connection, now: datetime, days: int, tighter_days: int,
                              auto_renew_days: int, after: Cursor, limit: int) -> list[asyncpg.Record]:
    """Active paid subscriptions expiring within `days` but not within `tighter_days` (the next
    reminder's window), whose reminder for `days` was not written yet. A subscription that
    auto-renews from an active plan gets no reminder inside the renewal window: the renewal
    (or its failure notice) speaks for it. One that Telegram renews gets STARS_RENEWS instead."""
    key = f"'reminder:' || {_PERIOD} || ':' || $2::int || 'd'"
    return await conn.fetch(
        f"""SELECT s.user_id, s.expires_at, {key} AS key
            FROM subscriptions s JOIN users u ON u.id = s.user_id
            WHERE s.status = 'active' AND NOT s.is_trial AND s.frozen_at IS NULL
              AND s.expires_at > $1::timestamptz + make_interval(days => $3)
              AND s.expires_at <= $1::timestamptz + make_interval(days => $2)
              AND NOT u.is_banned AND NOT u.blocked_bot
              AND NOT ($2 <= $4 AND s.auto_renew AND EXISTS (
                      SELECT 1 FROM plans p WHERE p.id = s.plan_id AND p.is_active))
              AND NOT {_STARS_RENEWS}
              AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.idempotency_key = {key})
              AND (s.expires_at, s.user_id) > ($5, $6)
            ORDER BY s.expires_at, s.user_id LIMIT $7""",
        now, days, tighter_days, auto_renew_days, after[0], after[1], limit)


async def stars_renewal_candidates(conn: asyncpg.Connection, now: datetime, days: int, after: Cursor,
                                   limit: int) -> list[asyncpg.Record]:
    """Active paid subscriptions whose Telegram Stars subscription renews within `days` (and is
    not cancelled), whose notice for that renewal was not written yet. Paged by the renewal's time."""
    date = "to_char(ss.period_end AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    key = f"'stars_renews:' || s.user_id || ':' || {date}"
    return await conn.fetch(
        f"""SELECT s.user_id, ss.period_end AS renews_at, ss.amount, {key} AS key
            FROM subscriptions s JOIN users u ON u.id = s.user_id
            JOIN LATERAL (SELECT x.period_end, x.amount FROM star_subscriptions x
                          WHERE x.user_id = s.user_id AND NOT x.canceled AND x.period_end > $1::timestamptz
                          ORDER BY x.period_end LIMIT 1) ss ON true
            WHERE s.status = 'active' AND NOT s.is_trial AND s.frozen_at IS NULL
              AND ss.period_end <= $1::timestamptz + make_interval(days => $2)
              AND NOT u.is_banned AND NOT u.blocked_bot
              AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.idempotency_key = {key})
              AND (ss.period_end, s.user_id) > ($3, $4)
            ORDER BY ss.period_end, s.user_id LIMIT $5""",
        now, days, after[0], after[1], limit)


async def trial_ending_candidates(conn: asyncpg.Connection, now: datetime, hours: int, after: Cursor,
                                  limit: int) -> list[asyncpg.Record]:
    key = f"'trial_ending:' || {_PERIOD}"
    return await conn.fetch(
        f"""SELECT s.user_id, s.expires_at, {key} AS key
            FROM subscriptions s JOIN users u ON u.id = s.user_id
            WHERE s.status = 'active' AND s.is_trial AND s.frozen_at IS NULL
              AND s.expires_at > $1::timestamptz
              AND s.expires_at <= $1::timestamptz + make_interval(hours => $2)
              AND NOT u.is_banned AND NOT u.blocked_bot
              AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.idempotency_key = {key})
              AND (s.expires_at, s.user_id) > ($3, $4)
            ORDER BY s.expires_at, s.user_id LIMIT $5""",
        now, hours, after[0], after[1], limit)


async def expired_candidates(conn: asyncpg.Connection, now: datetime, after: Cursor, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT s.user_id, s.expires_at FROM subscriptions s
           WHERE s.status = 'active' AND s.frozen_at IS NULL AND s.expires_at <= $1
             AND (s.expires_at, s.user_id) > ($2, $3)
           ORDER BY s.expires_at, s.user_id LIMIT $4""",
        now, after[0], after[1], limit)


async def expire(conn: asyncpg.Connection, user_ids: list[int], now: datetime) -> list[asyncpg.Record]:
    """Marks the subscriptions expired — only those still active and past their expiry under the
    row lock, so a renewal committed a moment ago wins. Returns the keys to write with them."""
    return await conn.fetch(
        f"""UPDATE subscriptions s SET status = 'expired', updated_at = now()
            FROM users u
            WHERE s.user_id = ANY($1::bigint[]) AND u.id = s.user_id
              AND s.status = 'active' AND s.frozen_at IS NULL AND s.expires_at <= $2
            RETURNING s.user_id, s.expires_at, s.is_trial, u.is_banned, u.blocked_bot,
                      'expire:' || s.user_id || ':' || {_STAMP} AS activation_key,
                      'expired:' || {_PERIOD} AS notice_key""",
        user_ids, now)


async def renewal_candidates(conn: asyncpg.Connection, now: datetime, days_before: int, after: Cursor,
                             limit: int) -> list[asyncpg.Record]:
    """Auto-renewing paid subscriptions inside the renewal window. Those already told that the
    balance is short are left out until the balance covers the price (then they renew); so are
    those Telegram renews with Stars (else the user would pay twice for one month)."""
    return await conn.fetch(
        f"""SELECT s.user_id, s.expires_at
            FROM subscriptions s JOIN users u ON u.id = s.user_id JOIN plans p ON p.id = s.plan_id
            WHERE s.status = 'active' AND s.auto_renew AND NOT s.is_trial AND p.is_active AND s.frozen_at IS NULL
              AND s.expires_at <= $1::timestamptz + make_interval(days => $2)
              AND NOT u.is_banned AND NOT {_STARS_RENEWS}
              AND (u.balance >= p.price OR NOT EXISTS (
                      SELECT 1 FROM notifications n WHERE n.idempotency_key = 'auto_renew_failed:' || {_PERIOD}))
              AND (s.expires_at, s.user_id) > ($3, $4)
            ORDER BY s.expires_at, s.user_id LIMIT $5""",
        now, days_before, after[0], after[1], limit)


async def lock_for_renewal(conn: asyncpg.Connection, user_id: int) -> asyncpg.Record | None:
    """The subscription, its plan and the user's balance, locked (subscription and user rows)
    for the rest of the transaction, with this period's keys."""
    return await conn.fetchrow(
        f"""SELECT s.user_id, s.expires_at, s.status, s.auto_renew, s.is_trial, s.plan_id, s.frozen_at,
                   p.price, p.days, p.is_active AS plan_active, u.balance, u.is_banned,
                   {_PERIOD} AS ledger_reference,
                   'renewal:' || {_PERIOD} AS activation_key,
                   'auto_renewed:' || {_PERIOD} AS renewed_key,
                   'auto_renew_failed:' || {_PERIOD} AS failed_key
            FROM subscriptions s JOIN users u ON u.id = s.user_id JOIN plans p ON p.id = s.plan_id
            WHERE s.user_id = $1
            FOR UPDATE OF s, u""",
        user_id)


async def thaw_due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[int]:
    """Users whose pause has reached its end (frozen_until), the longest overdue first."""
    rows = await conn.fetch(
        """SELECT user_id FROM subscriptions WHERE frozen_at IS NOT NULL AND frozen_until <= $1
           ORDER BY frozen_until, user_id LIMIT $2""", now, limit)
    return [r["user_id"] for r in rows]
