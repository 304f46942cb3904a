"""payment_events: one row per provider payment (Crypto Pay invoice, Stars charge)."""
from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Settling:
    """One payment `record_settlements` records as settled, moving its purchase to paid."""
    ref: str
    source: str
    purchase_id: int
    update_id: int | None
    detail: dict[str, Any]
    paid_asset: str | None
    paid_amount: Any


async def record_settlement(conn: asyncpg.Connection, *, provider: str, ref: str, source: str, purchase_id: int,
                            update_id: int | None, detail: dict[str, Any], paid_asset: str | None,
                            paid_amount: Any) -> tuple[bool, bool]:
    """The event and the purchase's compare-and-set (settleable -> paid) in one statement:
    the purchase moves only if the event is new. Returns (event recorded, purchase moved)."""
    [result] = await record_settlements(conn, provider, [Settling(ref, source, purchase_id, update_id, detail,
                                                                  paid_asset, paid_amount)])
    return result


async def record_settlements(conn: asyncpg.Connection, provider: str,
                             settling: list[Settling]) -> list[tuple[bool, bool]]:
    """`record_settlement` for several payments of one provider in one statement, each purchase moving
    only if its own event is new; (event recorded, purchase moved) for each, in the order given.
    The refs must differ (a second copy of one would be neither recorded nor told apart)."""
    if not settling:
        return []
    rows = await conn.fetch(
        """WITH wanted AS MATERIALIZED (
               SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::jsonb[], $7::text[],
                                    $8::numeric[]) WITH ORDINALITY
                      AS w(ref, source, purchase_id, update_id, detail, paid_asset, paid_amount, n)),
           event AS (
               INSERT INTO payment_events (provider, provider_ref, source, outcome, purchase_id, update_id, detail)
               SELECT $1::text, w.ref, w.source, 'settled', w.purchase_id, w.update_id, w.detail FROM wanted w ORDER BY w.n
               ON CONFLICT (provider, provider_ref) DO NOTHING RETURNING provider_ref),
           paid AS (
               UPDATE purchases p SET status = 'paid', paid_at = now(), settled_via = w.source,
                      provider_invoice_id = CASE WHEN $1::text = 'cryptobot' THEN coalesce(p.provider_invoice_id, w.ref)
                                                 ELSE p.provider_invoice_id END,
                      provider_charge_id = CASE WHEN $1::text = 'stars' THEN coalesce(p.provider_charge_id, w.ref)
                                                ELSE p.provider_charge_id END,
                      paid_asset = w.paid_asset, paid_amount = w.paid_amount
               FROM wanted w
               WHERE p.id = w.purchase_id AND p.status = ANY($9::text[])
                 AND w.ref IN (SELECT provider_ref FROM event)
               RETURNING w.ref)
           SELECT w.ref IN (SELECT provider_ref FROM event) AS recorded,
                  w.ref IN (SELECT ref FROM paid) AS moved
           FROM wanted w ORDER BY w.n""",
        provider, [s.ref for s in settling], [s.source for s in settling], [s.purchase_id for s in settling],
        [s.update_id for s in settling], [orjson.dumps(s.detail, default=str).decode() for s in settling],
        [s.paid_asset for s in settling], [s.paid_amount for s in settling], list(SETTLEABLE))
    return [(row["recorded"], row["moved"]) for row in rows]
