"""Pausing a paid subscription: the one freeze and unfreeze every path uses (the user in the bot,
the scheduler's automatic unfreeze at the end of the pause).

A freeze leaves expires_at as it is and marks the subscription frozen; the activation written
with it switches the panel account off (the EXPIRE action: vpn_gateway sees a frozen
subscription as one that grants nothing). The unfreeze moves expires_at by exactly the time
paused (`now - frozen_at`), so the time left comes back to the second, and its activation switches
the account on again with the new expiry. While frozen, the timed jobs (reminders, auto-renewal,
expiry) leave the subscription alone, and days granted meanwhile are added to the days it keeps.

`now` is the caller's clock (the scheduler's, which tests move), never the database's: a pause
must be measured by one clock from its start to its end. Each function runs in the caller's
transaction and opens none.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import asyncpg

from common.contract.outbox import Activation
from common.shop.outbox import enqueue_activation

YEAR = timedelta(days=365)


class FreezeRefusal(StrEnum):
    """Why a subscription cannot be paused; the bot has one sentence for each (freeze.refused_*)."""
    NOT_PAID = "not_paid"            # no subscription, a trial, or one that has ended
    FROZEN = "frozen"                # paused already
    ALLOWANCE = "allowance"          # the days asked for exceed what is left of the year's allowance
    DISABLED = "disabled"            # the shop allows no pauses (ATCS_FREEZE_DAYS_PER_YEAR=0)


@dataclass(frozen=True)
class Freeze:
    freeze_id: int
    started_at: datetime
    until: datetime
    left: timedelta                  # the time the subscription keeps for after the pause


@dataclass(frozen=True)
class Thaw:
    freeze_id: int
    expires_at: datetime             # the new end: the time paused added
    paused: timedelta


async def used_in_year(conn: asyncpg.Connection, user_id: int, now: datetime) -> timedelta:
    """Pause time counted against the allowance: pauses begun in the 365 days before `now`,
    each by what it lasted, a running one by what it may still last."""
    used = await conn.fetchval(
        """SELECT coalesce(sum(coalesce(ended_at, until) - started_at), interval '0')
           FROM subscription_freezes WHERE user_id = $1 AND started_at > $2""", user_id, now - YEAR)
    return used


async def allowance_left(conn: asyncpg.Connection, user_id: int, now: datetime, days_per_year: int) -> timedelta:
    return max(timedelta(0), timedelta(days=days_per_year) - await used_in_year(conn, user_id, now))


async def freeze(conn: asyncpg.Connection, user_id: int, days: int, *, now: datetime,
                 days_per_year: int) -> Freeze | FreezeRefusal:
    """Pauses the user's paid subscription for `days` (fewer if unfrozen earlier), within the
    yearly allowance. Locks the subscription row: two taps at once pause it once."""
    if days_per_year <= 0:
        return FreezeRefusal.DISABLED
    if days <= 0:
        raise ValueError("days must be positive")
    sub = await conn.fetchrow(
        """SELECT expires_at, status, is_trial, plan_id, frozen_at FROM subscriptions
           WHERE user_id = $1 FOR UPDATE""", user_id)
    if sub is not None and sub["status"] == "active" and sub["frozen_at"] is not None:
        return FreezeRefusal.FROZEN
    if sub is None or sub["status"] != "active" or sub["is_trial"] or sub["plan_id"] is None \
            or sub["expires_at"] <= now:
        return FreezeRefusal.NOT_PAID
    if timedelta(days=days) > await allowance_left(conn, user_id, now, days_per_year):
        return FreezeRefusal.ALLOWANCE
    until = now + timedelta(days=days)
    freeze_id = await conn.fetchval(
        "INSERT INTO subscription_freezes (user_id, started_at, until) VALUES ($1, $2, $3) RETURNING id",
        user_id, now, until)
    await conn.execute(
        """UPDATE subscriptions SET frozen_at = $2, frozen_until = $3, updated_at = now()
           WHERE user_id = $1""", user_id, now, until)
    # EXPIRE switches the account off keeping its key where the panel can (Outline cannot: its key
    # is deleted and the unfreeze delivers a new one).
    await enqueue_activation(conn, user_id, Activation.EXPIRE, f"freeze:{freeze_id}", {"reason": "freeze"})
    return Freeze(freeze_id=freeze_id, started_at=now, until=until, left=sub["expires_at"] - now)


async def unfreeze(conn: asyncpg.Connection, user_id: int, *, now: datetime, by: str) -> Thaw | None:
    """Ends the user's pause (`by`: "user" or "schedule"): expires_at moves by the time paused and
    the account is switched on again. None when the subscription is not paused (a second tap, or
    the scheduler got there first)."""
    row = await conn.fetchrow(
        """SELECT s.frozen_at, f.id AS freeze_id FROM subscriptions s
           JOIN subscription_freezes f ON f.user_id = s.user_id AND f.ended_at IS NULL
           WHERE s.user_id = $1 AND s.frozen_at IS NOT NULL FOR UPDATE OF s, f""", user_id)
    if row is None:
        return None
    ended = max(now, row["frozen_at"])       # a clock that stepped back pauses for nothing, never less
    paused = ended - row["frozen_at"]
    expires_at = await conn.fetchval(
        """UPDATE subscriptions SET expires_at = expires_at + $2::interval, frozen_at = NULL, frozen_until = NULL,
                                   updated_at = now()
           WHERE user_id = $1 RETURNING expires_at""", user_id, paused)
    await conn.execute("UPDATE subscription_freezes SET ended_at = $2, ended_by = $3 WHERE id = $1",
                       row["freeze_id"], ended, by)
    await enqueue_activation(conn, user_id, Activation.EXTEND, f"unfreeze:{row['freeze_id']}", {"reason": "unfreeze"})
    return Thaw(freeze_id=row["freeze_id"], expires_at=expires_at, paused=paused)

