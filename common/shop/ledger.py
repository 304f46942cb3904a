"""The balance ledger: every change of a balance (top-up, auto-renew debit, refund, admin) is an
appended row, applied exactly once per (kind, reference), and the balance never goes negative.

Payments (top-ups, refunds) and the scheduler (auto-renew debits) both apply it, so the rule
lives here once. Call inside the transaction that causes the change: the row and the balance
move together in a savepoint, and if the balance would go negative neither is kept.
"""
from __future__ import annotations

from decimal import Decimal

import asyncpg

KINDS = ("topup", "renewal", "refund", "referral_bonus", "admin", "purchase")
CENT = Decimal("0.01")


class InsufficientBalance(Exception):
    def __init__(self, user_id: int, needed: Decimal, balance: Decimal | None) -> None:
        super().__init__(f"user {user_id}: balance {balance} cannot cover {needed}")
        self.user_id = user_id
        self.needed = needed
        self.balance = balance


async def apply(conn: asyncpg.Connection, user_id: int, amount: Decimal, kind: str, reference: str) -> Decimal | None:
    """Appends the row and moves the balance; returns the new balance, or None when this
    (kind, reference) was applied before. Raises InsufficientBalance for a debit the balance
    cannot cover, leaving nothing written."""
    if kind not in KINDS:
        raise ValueError(f"unknown ledger kind {kind!r}")
    if not amount.is_finite() or amount == 0 or amount != amount.quantize(CENT):
        # numeric(14, 2) would round silently; a cent lost in rounding is still a cent.
        raise ValueError(f"ledger amount must be a non-zero number of cents, got {amount}")
    async with conn.transaction():  # a savepoint inside the caller's transaction
        inserted = await conn.fetchval(
            """INSERT INTO balance_ledger (user_id, amount, kind, reference) VALUES ($1, $2, $3, $4)
               ON CONFLICT (kind, reference) DO NOTHING RETURNING true""",
            user_id, amount, kind, reference)
        if not inserted:
            return None
        balance = await conn.fetchval(
            "UPDATE users SET balance = balance + $2 WHERE id = $1 AND balance + $2 >= 0 RETURNING balance",
            user_id, amount)
        if balance is None:
            raise InsufficientBalance(user_id, -amount,
                                      await conn.fetchval("SELECT balance FROM users WHERE id = $1", user_id))
        return balance
