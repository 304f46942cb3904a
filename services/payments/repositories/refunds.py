"""payment_refunds: one row per refunded purchase (append-only), whoever started the refund."""
from __future__ import annotations

from decimal import Decimal

import asyncpg


async def record(conn: asyncpg.Connection, *, purchase_id: int, user_id: int, provider: str, provider_ref: str | None,
                 source: str, admin_id: int | None, amount: Decimal, currency: str, days_taken: int,
                 revoked: bool) -> bool:
    """False when this purchase was refunded before (then the caller must change nothing more)."""
    inserted = await conn.fetchval(
        """INSERT INTO payment_refunds (purchase_id, user_id, provider, provider_ref, source, admin_id, amount,
                                        currency, days_taken, revoked)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (purchase_id) DO NOTHING RETURNING true""",
        purchase_id, user_id, provider, provider_ref, source, admin_id if source == "admin" else None, amount,
        currency, days_taken, revoked)
    return bool(inserted)
