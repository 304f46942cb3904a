"""Promo codes as the admin console stores them, for payments' tests."""
from __future__ import annotations

from decimal import Decimal

from tests.payments.conftest import Harness


async def make_code(payments: Harness, code: str, kind: str = "percent", value: str = "20", *,
                    plans: list[int] | None = None, max_uses: int | None = None, once_per_user: bool = True,
                    first_purchase_only: bool = False, valid_from: str = "-1 hour",
                    valid_until: str | None = None, disabled: bool = False) -> int:
    async with payments.db.acquire() as conn:
        return await conn.fetchval(
            """INSERT INTO promo_codes (code, kind, value, plan_ids, valid_from, valid_until, max_uses, once_per_user,
                                        first_purchase_only, disabled_at, created_by)
               VALUES ($1, $2, $3, $4, now() + $5::text::interval, now() + $6::text::interval, $7, $8, $9,
                       CASE WHEN $10 THEN now() END, 1)
               RETURNING id""",
            code, kind, Decimal(value), plans or [], valid_from, valid_until, max_uses, once_per_user,
            first_purchase_only, disabled)
