"""payment_claims: signed webhook claims waiting for Crypto Pay to confirm or contradict them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson


@dataclass(frozen=True)
class Claim:
    invoice_id: int
    digest: bytes
    claimed: dict[str, Any]
    update_id: int | None
    attempts: int


@dataclass(frozen=True)
class NewClaim:
    invoice_id: int
    digest: bytes
    claimed: dict[str, Any]
    update_id: int | None
    request_date: str | None


async def record_many(conn: asyncpg.Connection, new: list[NewClaim]) -> list[bool]:
    """Stores the claims in one statement; for each, True if it was not seen before (a re-delivery of
    a stored claim, or a second copy in the same list, changes nothing)."""
    rows = await conn.fetch(
        """INSERT INTO payment_claims (invoice_id, digest, claimed, update_id, request_date)
           SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::jsonb[], $4::bigint[], $5::text[])
           ON CONFLICT (invoice_id, digest) DO NOTHING RETURNING invoice_id, digest""",
        [c.invoice_id for c in new], [c.digest for c in new],
        [orjson.dumps(c.claimed, default=str).decode() for c in new],
        [c.update_id for c in new], [c.request_date for c in new])
    stored = {(r["invoice_id"], bytes(r["digest"])) for r in rows}
    firsts = []
    for claim in new:
        key = (claim.invoice_id, claim.digest)
        firsts.append(key in stored)
        stored.discard(key)
    return firsts


async def due(conn: asyncpg.Connection, limit: int) -> list[Claim]:
    rows = await conn.fetch(
        """SELECT invoice_id, digest, claimed, update_id, attempts FROM payment_claims
           WHERE state = 'pending' AND next_attempt_at <= now()
           ORDER BY next_attempt_at LIMIT $1""",
        limit)
    return [Claim(r["invoice_id"], bytes(r["digest"]), orjson.loads(r["claimed"]), r["update_id"], r["attempts"])
            for r in rows]


async def seconds_to_next(conn: asyncpg.Connection) -> float | None:
    """How long until the earliest pending claim is due (0 if one is due now); None if none is pending."""
    value = await conn.fetchval(
        """SELECT greatest(extract(epoch FROM min(next_attempt_at) - now()), 0)::float8
           FROM payment_claims WHERE state = 'pending'""")
    return value


async def confirm(conn: asyncpg.Connection, resolved: list[tuple[Claim, str]]) -> None:
    """Marks these claims confirmed, each with the settlement's outcome, in one statement."""
    if not resolved:
        return
    await conn.execute(
        """UPDATE payment_claims c SET state = 'confirmed', outcome = u.outcome, resolved_at = clock_timestamp(),
                                       last_error = NULL
           FROM unnest($1::bigint[], $2::bytea[], $3::text[]) AS u(invoice_id, digest, outcome)
           WHERE c.invoice_id = u.invoice_id AND c.digest = u.digest AND c.state = 'pending'""",
        [c.invoice_id for c, _ in resolved], [c.digest for c, _ in resolved], [o for _, o in resolved])


async def contradict(conn: asyncpg.Connection, claim: Claim, verdict: str) -> bool:
    """Marks the claim contradicted; False if it was resolved already (then nobody is told twice)."""
    done = await conn.fetchval(
        """UPDATE payment_claims SET state = 'contradicted', verdict = $3, resolved_at = clock_timestamp()
           WHERE invoice_id = $1 AND digest = $2 AND state = 'pending' RETURNING true""",
        claim.invoice_id, claim.digest, verdict[:500])
    return bool(done)


async def postpone(conn: asyncpg.Connection, later: list[tuple[Claim, float]], error: str) -> None:
    """These claims got no usable answer: count the attempt and ask again after each one's pause."""
    if not later:
        return
    await conn.execute(
        """UPDATE payment_claims c SET attempts = c.attempts + 1, last_error = $4,
                                       next_attempt_at = clock_timestamp() + make_interval(secs => u.pause)
           FROM unnest($1::bigint[], $2::bytea[], $3::float8[]) AS u(invoice_id, digest, pause)
           WHERE c.invoice_id = u.invoice_id AND c.digest = u.digest AND c.state = 'pending'""",
        [c.invoice_id for c, _ in later], [c.digest for c, _ in later], [p for _, p in later], error[:500])


async def pending_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM payment_claims WHERE state = 'pending'")


