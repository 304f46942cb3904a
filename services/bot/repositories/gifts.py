"""Gifts as the bot sees them: redeeming a link, and the giver's list. (payments makes a gift when
its purchase settles and withdraws it on an admin's refund.)"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg

from common.contract.outbox import Notice
from common.shop.access import grant_days
from common.shop.outbox import enqueue_notification

_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,43}")


class GiftRefusal(StrEnum):
    """Why a gift link gives nothing; each has one sentence (gift.refused_*)."""
    UNKNOWN = "unknown"          # malformed, another bot's, or never made
    OWN = "own"
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class Redeemed:
    gift_id: int
    giver_id: int
    days: int
    expires_at: datetime


async def redeem(conn: asyncpg.Connection, token: str, user_id: int, name: str) -> Redeemed | GiftRefusal:
    """Gives the gift to `user_id`, inside the caller's transaction: the compare-and-set ready ->
    redeemed is one statement, so of any number of people opening one link at once exactly one
    gets it; the days and their activation row, and the giver's notice, commit with it."""
    if not _TOKEN.fullmatch(token):
        return GiftRefusal.UNKNOWN
    row = await conn.fetchrow(
        """UPDATE gifts SET state = 'redeemed', recipient_id = $2, redeemed_at = now()
           WHERE token = $1 AND state = 'ready' AND valid_until > now() AND giver_id <> $2
           RETURNING id, giver_id, days, plan_id, traffic_limit_bytes""",
        token, user_id)
    if row is None:
        return await _why_not(conn, token, user_id)
    key = f"gift:{row['id']}"
    grant = await grant_days(conn, user_id, row["days"], key=key, plan_id=row["plan_id"],
                             traffic_limit_bytes=row["traffic_limit_bytes"], reason="gift")
    await enqueue_notification(conn, row["giver_id"], Notice.GIFT_REDEEMED, {"days": row["days"], "name": name},
                               key=f"gift_redeemed:{row['id']}")
    return Redeemed(gift_id=row["id"], giver_id=row["giver_id"], days=row["days"], expires_at=grant.expires_at)


async def _why_not(conn: asyncpg.Connection, token: str, user_id: int) -> GiftRefusal:
    row = await conn.fetchrow("SELECT giver_id, state, valid_until <= now() AS past FROM gifts WHERE token = $1", token)
    if row is None:
        return GiftRefusal.UNKNOWN
    if row["state"] == "redeemed":
        return GiftRefusal.REDEEMED
    if row["state"] == "refunded":
        return GiftRefusal.REFUNDED
    if row["giver_id"] == user_id:
        return GiftRefusal.OWN
    return GiftRefusal.EXPIRED


@dataclass(frozen=True)
class GiftRow:
    id: int
    token: str
    days: int
    state: str
    valid_until: datetime
    redeemed_at: datetime | None
    created_at: datetime
    usable: bool             # ready and not past valid_until: the link still works


async def of_giver(conn: asyncpg.Connection, giver_id: int, limit: int = 10) -> list[GiftRow]:
    """The giver's unredeemed gifts that still work first, then the latest others."""
    rows = await conn.fetch(
        """SELECT id, token, days, state, valid_until, redeemed_at, created_at,
                  (state = 'ready' AND valid_until > now()) AS usable
           FROM gifts WHERE giver_id = $1
           ORDER BY usable DESC, created_at DESC LIMIT $2""",
        giver_id, limit)
    return [GiftRow(**dict(r)) for r in rows]
