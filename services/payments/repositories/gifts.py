"""gifts: made by the settlement of a gift purchase; withdrawn by an admin's refund. (The bot
redeems them: services/bot/repositories/gifts.py.)"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

@dataclass(frozen=True)
class Gift:
    id: int
    token: str
    days: int
    valid_until: datetime


def new_token() -> str:
    """128 random bits in Telegram's deep-link alphabet: a link nobody can guess or enumerate."""
    return secrets.token_urlsafe(16)


async def create(conn: asyncpg.Connection, *, purchase_id: int, giver_id: int, plan_id: int | None, days: int,
                 traffic_limit_bytes: int | None, valid_days: int) -> Gift | None:
    """The gift a settled purchase bought, or None if that purchase made one before. Its link can be
    redeemed for `valid_days` (ATCS_GIFT_VALID_DAYS); after that an admin can still refund it."""
    row = await conn.fetchrow(
        """INSERT INTO gifts (purchase_id, giver_id, token, plan_id, days, traffic_limit_bytes, valid_until)
           VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(days => $7))
           ON CONFLICT (purchase_id) DO NOTHING
           RETURNING id, token, days, valid_until""",
        purchase_id, giver_id, new_token(), plan_id, days, traffic_limit_bytes, valid_days)
    return Gift(**dict(row)) if row else None


async def withdraw(conn: asyncpg.Connection, purchase_id: int) -> str | None:
    """Makes the purchase's gift unredeemable for a refund: returns 'refunded' (now or before),
    'redeemed' when someone has it already, or None when the purchase has no gift (never paid)."""
    state = await conn.fetchval(
        """UPDATE gifts SET state = 'refunded', refunded_at = now()
           WHERE purchase_id = $1 AND state = 'ready' RETURNING state""", purchase_id)
    if state is not None:
        return state
    return await conn.fetchval("SELECT state FROM gifts WHERE purchase_id = $1", purchase_id)
