"""Promo codes: reading one, judging it for a user and a plan, and spending a use.

The bot judges a code when it is typed (to show the price or say why not); payments judges it
again when it makes the invoice (the purchase then holds a use while it is pending) and once more
when the payment settles, under a lock of the code's row (migration 0140 explains holds).

How full a code is: spent uses, plus the other users that hold one with a pending purchase. A
user's own pending purchases never count against them, so paying with Stars after asking for a
Crypto Bot invoice works; the second of their payments to settle is the one a once-per-user code
refuses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import asyncpg

from common.shop.pricing import Discount

_CODE = re.compile(r"[A-Z0-9_-]{3,32}")
KINDS = ("percent", "amount", "days", "free_plan")


class Refusal(StrEnum):
    """Why a code does not apply; each has one sentence in the user's language (promo.refused_*)."""
    UNKNOWN = "unknown"                  # malformed, or no such code
    DISABLED = "disabled"
    NOT_YET = "not_yet"
    EXPIRED = "expired"
    USED_UP = "used_up"
    ALREADY_USED = "already_used"        # by this user, and it is once per user
    NOT_APPLICABLE = "not_applicable"    # not for this plan (or for gifts)
    FIRST_PURCHASE_ONLY = "first_purchase_only"


@dataclass(frozen=True)
class Promo:
    id: int
    code: str
    kind: str
    value: Decimal
    plan_ids: list[int]
    valid_from: datetime
    valid_until: datetime | None
    max_uses: int | None
    once_per_user: bool
    first_purchase_only: bool
    disabled_at: datetime | None

    @property
    def discount(self) -> Discount:
        return Discount(self.kind, self.value)

    def applies_to(self, plan_id: int) -> bool:
        return not self.plan_ids or plan_id in self.plan_ids


_COLUMNS = """id, code, kind, value, plan_ids, valid_from, valid_until, max_uses, once_per_user,
              first_purchase_only, disabled_at"""


def normalize(text: str | None) -> str | None:
    """The code as stored (upper case), or None when it cannot be a code at all."""
    if not isinstance(text, str):
        return None
    code = text.strip().upper()
    return code if _CODE.fullmatch(code) else None


def _of(row: asyncpg.Record | None) -> Promo | None:
    if row is None:
        return None
    values = dict(row)
    values["plan_ids"] = list(values["plan_ids"] or [])
    return Promo(**values)


async def find(conn: asyncpg.Connection, code: str) -> Promo | None:
    return _of(await conn.fetchrow(f"SELECT {_COLUMNS} FROM promo_codes WHERE code = $1", code))


async def get(conn: asyncpg.Connection, code_id: int) -> Promo | None:
    return _of(await conn.fetchrow(f"SELECT {_COLUMNS} FROM promo_codes WHERE id = $1", code_id))


async def lock(conn: asyncpg.Connection, code_id: int) -> Promo | None:
    """The code's row, locked until the transaction ends: every hold and spend of it queues here.

    NO KEY UPDATE, not UPDATE: a purchase inserted with this code (its foreign key) takes a KEY
    SHARE lock of the row, which UPDATE would wait on — two holders, each waiting on the other's
    insert, a deadlock."""
    return _of(await conn.fetchrow(f"SELECT {_COLUMNS} FROM promo_codes WHERE id = $1 FOR NO KEY UPDATE", code_id))


async def judge(conn: asyncpg.Connection, promo: Promo, user_id: int, plan_id: int | None, *,
                purchase_id: int | None = None, held: bool = False) -> Refusal | None:
    """None when `user_id` may use the code (for `plan_id`, when given). `purchase_id` is the
    purchase being judged, left out of the counts. `held`: that purchase held a use while it was
    pending, so only the counts are judged (the code being switched off or out of time since does
    not take back the price it was given). Exact only under `lock` of the code."""
    if not held:
        now = await conn.fetchval("SELECT now()")
        if promo.disabled_at is not None:
            return Refusal.DISABLED
        if now < promo.valid_from:
            return Refusal.NOT_YET
        if promo.valid_until is not None and now >= promo.valid_until:
            return Refusal.EXPIRED
        if plan_id is not None and not promo.applies_to(plan_id):
            return Refusal.NOT_APPLICABLE
    if promo.first_purchase_only and await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM purchases WHERE user_id = $1 AND kind IN ('subscription', 'gift')
                              AND status IN ('paid', 'refunded') AND id IS DISTINCT FROM $2)""",
            user_id, purchase_id):
        return Refusal.FIRST_PURCHASE_ONLY
    if promo.once_per_user and await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM promo_uses WHERE code_id = $1 AND user_id = $2)", promo.id, user_id):
        return Refusal.ALREADY_USED
    if promo.max_uses is not None and await taken(conn, promo.id, user_id) >= promo.max_uses:
        return Refusal.USED_UP
    return None


async def taken(conn: asyncpg.Connection, code_id: int, user_id: int) -> int:
    """Spent uses plus the other users holding one (a pending purchase carrying the code)."""
    return await conn.fetchval(
        """SELECT (SELECT count(*) FROM promo_uses WHERE code_id = $1)
                + (SELECT count(DISTINCT user_id) FROM purchases
                   WHERE promo_code_id = $1 AND status = 'pending' AND user_id <> $2)""",
        code_id, user_id)


async def spend(conn: asyncpg.Connection, promo: Promo, user_id: int, purchase_id: int) -> bool:
    """Records the use (inside the settlement's transaction, under `lock`); False if this
    purchase spent it before or the user already did for a once-per-user code."""
    try:
        async with conn.transaction():   # a savepoint: a refused insert leaves the caller's transaction usable
            inserted = await conn.fetchval(
                """INSERT INTO promo_uses (purchase_id, code_id, user_id, once_per_user) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (purchase_id) DO NOTHING RETURNING true""",
                purchase_id, promo.id, user_id, promo.once_per_user)
    except asyncpg.UniqueViolationError:
        return False
    return bool(inserted)
