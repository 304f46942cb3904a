"""Plan changes with fair proration (issue 12.4): what is left of a subscription, in money, and
what it becomes on another plan. The bot shows this arithmetic; payments applies it.

What is left is worth what was actually paid for it per day. Grants append to the end of the
subscription's time, so the time left is made of the latest grants: walking them newest first,
each covers part of the time left and brings its price per day for that part — a purchase what it
cost (Stars at the plan's own Stars-to-money ratio), an auto-renewal what the balance paid, an
earlier change what went into it. Trial, gift, referral, admin and promo days are worth nothing;
they are kept as they are (never turned into money, never taken away).

On the new plan, the value buys days at the new plan's price per day: when it covers the plan's
price, the change costs nothing and gives as many whole days as the value buys ("downgrades add
days, never money"); when it does not, the plan's own term is given and the difference is charged
(from the balance first, the rest by an invoice). Money is rounded to the nearest cent (half up:
never above what was paid, which is whole cents); days are whole, rounded down.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

import asyncpg

from common.shop.plans import Plan

CENT = Decimal("0.01")
DAY = Decimal(86400)


@dataclass(frozen=True)
class Segment:
    """One grant of time, newest first: its days and what was paid for all of them (0: free)."""
    days: Decimal
    value: Decimal
    closes: bool = False     # a plan change: everything granted before it went into its value


@dataclass(frozen=True)
class Left:
    value: Decimal           # cents, of the paid time left
    paid_days: Decimal
    free_days: Decimal


def left_of(segments: list[Segment], left_days: Decimal) -> Left:
    """How the time left splits into paid (with its value) and free days."""
    remaining = max(left_days, Decimal(0))
    value = paid = free = Decimal(0)
    for segment in segments:
        if remaining <= 0:
            break
        if segment.days <= 0:
            continue
        take = min(segment.days, remaining)
        if segment.value > 0:
            value += segment.value * take / segment.days
            paid += take
        else:
            free += take
        remaining -= take
        if segment.closes:
            break
    # Time no grant accounts for (history from before grants were recorded) is worth nothing.
    free += max(remaining, Decimal(0))
    return Left(value=value.quantize(CENT, rounding=ROUND_HALF_UP), paid_days=paid, free_days=free)


@dataclass(frozen=True)
class Conversion:
    charge: Decimal          # what the value does not cover of the new plan's price
    days: int                # days of the new plan


def convert(value: Decimal, plan: Plan) -> Conversion:
    """`value` (money already in hand for the new plan: the value left, plus anything paid towards it)
    as days of `plan`."""
    if value >= plan.price:
        return Conversion(charge=Decimal("0.00"), days=max(plan.days, int(value * plan.days / plan.price)))
    return Conversion(charge=(plan.price - value).quantize(CENT), days=plan.days)


class Refusal(StrEnum):
    """Why a change cannot be quoted; each has one sentence (change.refused_*)."""
    NO_PAID_PLAN = "no_paid_plan"        # no subscription, a trial, no plan, or it has ended
    SAME_PLAN = "same_plan"
    PLAN_GONE = "plan_gone"
    FROZEN = "frozen"                    # paused: its days are not running (common/shop/freeze.py)


@dataclass(frozen=True)
class Quote:
    user_id: int
    from_plan_id: int
    from_plan_code: str
    plan: Plan
    now: datetime
    left: Left
    conversion: Conversion
    balance: Decimal

    @property
    def from_balance(self) -> Decimal:
        return min(self.balance, self.conversion.charge)

    @property
    def invoice(self) -> Decimal:
        return self.conversion.charge - self.from_balance

    @property
    def free_seconds(self) -> int:
        return int(self.left.free_days * DAY)

    @property
    def expires_at(self) -> datetime:
        return self.now + timedelta(days=self.conversion.days, seconds=self.free_seconds)


_SEGMENTS = """
SELECT (a.payload->>'days')::numeric AS days,
       CASE WHEN a.idempotency_key LIKE 'purchase:%' THEN (
                SELECT CASE WHEN p.status <> 'paid' THEN -1          -- refunded: its days were taken back
                            WHEN p.currency = 'XTR' THEN coalesce(p.amount * pl.price / pl.stars_price, 0)
                            ELSE p.amount END
                FROM purchases p LEFT JOIN plans pl ON pl.id = p.plan_id
                WHERE p.id = substr(a.idempotency_key, 10)::bigint)
            WHEN a.idempotency_key LIKE 'renewal:%' THEN (
                SELECT -l.amount FROM balance_ledger l
                WHERE l.kind = 'renewal' AND l.reference = substr(a.idempotency_key, 9))
            WHEN a.idempotency_key LIKE 'change:%' THEN (
                SELECT c.value_left + c.from_balance + c.paid FROM plan_changes c
                WHERE c.id = substr(a.idempotency_key, 8)::bigint)
            ELSE 0 END AS value,
       CASE WHEN a.idempotency_key LIKE 'change:%' THEN (
                SELECT c.free_seconds FROM plan_changes c WHERE c.id = substr(a.idempotency_key, 8)::bigint)
       END AS free_seconds
FROM activations a
WHERE a.user_id = $1 AND a.payload ? 'days' AND (a.payload->>'days') ~ '^[0-9]{1,6}$'
ORDER BY a.id DESC
LIMIT 500
"""


async def segments_of(conn: asyncpg.Connection, user_id: int) -> list[Segment]:
    found: list[Segment] = []
    for row in await conn.fetch(_SEGMENTS, user_id):
        value = row["value"] if row["value"] is not None else Decimal(0)
        if value < 0:
            continue   # a refunded purchase
        if row["free_seconds"] is not None:
            # A change: its new plan's days, then the free time it carried over; nothing older counts.
            found.append(Segment(days=row["days"], value=value))
            found.append(Segment(days=Decimal(row["free_seconds"]) / DAY, value=Decimal(0), closes=True))
            break
        found.append(Segment(days=row["days"], value=value))
    return found


async def quote_for(conn: asyncpg.Connection, user_id: int, plan_id: int) -> Quote | Refusal:
    """The change of `user_id`'s plan to `plan_id` as of now (exact under a lock of the subscription)."""
    sub = await conn.fetchrow(
        """SELECT s.expires_at, s.is_trial, s.status, s.plan_id, s.frozen_at, p.code AS plan_code, u.balance,
                  now() AS now
           FROM subscriptions s JOIN users u ON u.id = s.user_id LEFT JOIN plans p ON p.id = s.plan_id
           WHERE s.user_id = $1""", user_id)
    if sub is not None and sub["status"] == "active" and sub["frozen_at"] is not None:
        return Refusal.FROZEN
    if sub is None or sub["is_trial"] or sub["plan_id"] is None or sub["status"] != "active" \
            or sub["expires_at"] <= sub["now"]:
        return Refusal.NO_PAID_PLAN
    if sub["plan_id"] == plan_id:
        return Refusal.SAME_PLAN
    row = await conn.fetchrow(
        "SELECT id, code, days, price, stars_price, traffic_gb, device_limit FROM plans WHERE id = $1 AND is_active", plan_id)
    if row is None:
        return Refusal.PLAN_GONE
    plan = Plan(**dict(row))
    left = left_of(await segments_of(conn, user_id), Decimal((sub["expires_at"] - sub["now"]).total_seconds()) / DAY)
    return Quote(user_id=user_id, from_plan_id=sub["plan_id"], from_plan_code=sub["plan_code"], plan=plan,
                 now=sub["now"], left=left, conversion=convert(left.value, plan), balance=sub["balance"])
