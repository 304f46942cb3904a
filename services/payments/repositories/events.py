"""payment_events: one row per provider payment (Crypto Pay invoice, Stars charge)."""
from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from services.payments.repositories.purchases import SETTLEABLE


async def record(conn: asyncpg.Connection, *, provider: str, ref: str, source: str, outcome: str,
                 purchase_id: int | None, update_id: int | None, reason: str | None,
                 detail: dict[str, Any]) -> bool:
    """True if this is the first report of the payment; False if it was recorded before (then the
    caller must change nothing). Concurrent first reports wait on the primary key; one wins."""
    inserted = await conn.fetchval(
        """INSERT INTO payment_events (provider, provider_ref, source, outcome, purchase_id, update_id, reason, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
           ON CONFLICT (provider, provider_ref) DO NOTHING RETURNING true""",
        provider, ref, source, outcome, purchase_id, update_id, reason,
        orjson.dumps(detail, default=str).decode())
    return bool(inserted)


async def purchase_of(conn: asyncpg.Connection, provider: str, ref: str) -> int | None:
    return await conn.fetchval(
        "SELECT purchase_id FROM payment_events WHERE provider = $1 AND provider_ref = $2", provider, ref)


async def known_refs(conn: asyncpg.Connection, provider: str, refs: list[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT provider_ref FROM payment_events WHERE provider = $1 AND provider_ref = ANY($2::text[])",
        provider, refs)
    return {r["provider_ref"] for r in rows}


async def record_settlement(conn: asyncpg.Connection, *, provider: str, ref: str, source: str, purchase_id: int,
                            update_id: int | None, detail: dict[str, Any], paid_asset: str | None,
                            paid_amount: Any) -> tuple[bool, bool]:
    """The event and the purchase's compare-and-set (settleable -> paid) in one statement:
    the purchase moves only if the event is new. Returns (event recorded, purchase moved)."""
    row = await conn.fetchrow(
        """WITH event AS (
               INSERT INTO payment_events (provider, provider_ref, source, outcome, purchase_id, update_id, detail)
               VALUES ($1, $2, $3, 'settled', $4, $5, $6::jsonb)
               ON CONFLICT (provider, provider_ref) DO NOTHING RETURNING 1),
           paid AS (
               UPDATE purchases SET status = 'paid', paid_at = now(), settled_via = $3,
                      provider_invoice_id = CASE WHEN $1 = 'cryptobot' THEN coalesce(provider_invoice_id, $2)
                                                 ELSE provider_invoice_id END,
                      provider_charge_id = CASE WHEN $1 = 'stars' THEN coalesce(provider_charge_id, $2)
                                                ELSE provider_charge_id END,
                      paid_asset = $7, paid_amount = $8
               WHERE id = $4 AND status = ANY($9::text[]) AND EXISTS (SELECT 1 FROM event)
               RETURNING 1)
           SELECT EXISTS (SELECT 1 FROM event) AS recorded, EXISTS (SELECT 1 FROM paid) AS moved""",
        provider, ref, source, purchase_id, update_id, orjson.dumps(detail, default=str).decode(),
        paid_asset, paid_amount, list(SETTLEABLE))
    return row["recorded"], row["moved"]
