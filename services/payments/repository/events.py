"""payment_events: one row per provider payment (Crypto Pay invoice, Stars charge)."""
from __future__ import annotations

from typing import Any

import asyncpg
import orjson


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
