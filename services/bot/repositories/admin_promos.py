"""Promo codes as an admin runs them: create, list with their uses and revenue, one code's card,
disable. (Judging and spending a code: common/shop/promos.py.)"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import asyncpg

from common.shop.promos import Promo


@dataclass(frozen=True)
class NewCode:
    code: str
    kind: str
    value: Decimal
    plan_ids: list[int]
    valid_from: datetime | None       # None: from now
    valid_until: datetime | None
    max_uses: int | None
    once_per_user: bool
    first_purchase_only: bool


@dataclass(frozen=True)
class CodeStats(Promo):
    """A code as common.shop.promos reads it, with what its admin card adds."""
    created_by: int
    created_at: datetime
    now: datetime
    uses: int                                   # spent by settled purchases
    held: int                                   # users holding one with a pending invoice
    revenue: dict[str, Decimal] = field(default_factory=dict)    # per currency, paid purchases
    # (not `discount`: that is the code's Discount, from Promo)
    discount_given: dict[str, Decimal] = field(default_factory=dict)   # list price minus paid, per currency

    @property
    def state(self) -> str:
        if self.disabled_at is not None:
            return "disabled"
        if self.valid_until is not None and self.now >= self.valid_until:
            return "expired"
        if self.now < self.valid_from:
            return "scheduled"
        return "active"


async def create(conn: asyncpg.Connection, new: NewCode, admin_id: int) -> int | None:
    """The new code's id, or None when the code exists already."""
    return await conn.fetchval(
        """INSERT INTO promo_codes (code, kind, value, plan_ids, valid_from, valid_until, max_uses, once_per_user,
                                    first_purchase_only, created_by)
           VALUES ($1, $2, $3, $4, coalesce($5, now()), $6, $7, $8, $9, $10)
           ON CONFLICT (code) DO NOTHING RETURNING id""",
        new.code, new.kind, new.value, new.plan_ids, new.valid_from, new.valid_until, new.max_uses,
        new.once_per_user, new.first_purchase_only, admin_id)


async def exists(conn: asyncpg.Connection, code: str) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM promo_codes WHERE code = $1)", code)


_STATS = """
SELECT c.id, c.code, c.kind, c.value, c.plan_ids, c.valid_from, c.valid_until, c.max_uses, c.once_per_user,
       c.first_purchase_only, c.disabled_at, c.created_by, c.created_at, now() AS now,
       (SELECT count(*) FROM promo_uses u WHERE u.code_id = c.id) AS uses,
       (SELECT count(DISTINCT p.user_id) FROM purchases p
        WHERE p.promo_code_id = c.id AND p.status = 'pending') AS held
FROM promo_codes c
"""


async def _money(conn: asyncpg.Connection, ids: list[int]) -> dict[int, tuple[dict[str, Decimal], dict[str, Decimal]]]:
    rows = await conn.fetch(
        """SELECT u.code_id, p.currency, sum(p.amount) AS revenue, sum(p.list_amount - p.amount) AS discount
           FROM promo_uses u JOIN purchases p ON p.id = u.purchase_id
           WHERE u.code_id = ANY($1::int[]) AND p.status = 'paid'
           GROUP BY u.code_id, p.currency ORDER BY p.currency""",
        ids)
    found: dict[int, tuple[dict[str, Decimal], dict[str, Decimal]]] = {i: ({}, {}) for i in ids}
    for r in rows:
        found[r["code_id"]][0][r["currency"]] = r["revenue"]
        found[r["code_id"]][1][r["currency"]] = r["discount"] or Decimal(0)
    return found


def _stats(row: asyncpg.Record, money: tuple[dict[str, Decimal], dict[str, Decimal]]) -> CodeStats:
    values = dict(row)
    values["plan_ids"] = list(values["plan_ids"] or [])
    return CodeStats(**values, revenue=money[0], discount_given=money[1])


async def recent(conn: asyncpg.Connection, limit: int = 15) -> list[CodeStats]:
    rows = await conn.fetch(_STATS + " ORDER BY c.created_at DESC, c.id DESC LIMIT $1", limit)
    money = await _money(conn, [r["id"] for r in rows])
    return [_stats(r, money[r["id"]]) for r in rows]


async def one(conn: asyncpg.Connection, code_id: int) -> CodeStats | None:
    row = await conn.fetchrow(_STATS + " WHERE c.id = $1", code_id)
    if row is None:
        return None
    return _stats(row, (await _money(conn, [code_id]))[code_id])


async def disable(conn: asyncpg.Connection, code_id: int) -> bool:
    """True when this switched it off (False: it already was, or there is no such code)."""
    done = await conn.fetchval(
        "UPDATE promo_codes SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL RETURNING id", code_id)
    return done is not None


async def plan_codes(conn: asyncpg.Connection) -> dict[int, str]:
    """Every plan's code by id (inactive ones too: an old code may name them)."""
    return {r["id"]: r["code"] for r in await conn.fetch("SELECT id, code FROM plans ORDER BY sort_order, id")}
