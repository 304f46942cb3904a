"""balance_ledger rows and the balance they move, in one statement pair."""
from __future__ import annotations

from decimal import Decimal

import asyncpg


async def insert_row(conn: asyncpg.Connection, user_id: int, amount: Decimal, kind: str, reference: str) -> bool:
    """False if (kind, reference) was applied before: a row is never applied twice."""
    inserted = await conn.fetchval(
        """INSERT INTO balance_ledger (user_id, amount, kind, reference) VALUES ($1, $2, $3, $4)
           ON CONFLICT (kind, reference) DO NOTHING RETURNING true""",
        user_id, amount, kind, reference)
    return bool(inserted)


async def move_balance(conn: asyncpg.Connection, user_id: int, amount: Decimal) -> Decimal | None:
    """The new balance, or None if it would go below zero (then nothing changed)."""
    return await conn.fetchval(
        "UPDATE users SET balance = balance + $2 WHERE id = $1 AND balance + $2 >= 0 RETURNING balance",
        user_id, amount)


async def balance(conn: asyncpg.Connection, user_id: int) -> Decimal | None:
    return await conn.fetchval("SELECT balance FROM users WHERE id = $1", user_id)
