"""SQL of the activation outbox as vpn_gateway works it: claim with a lease, finish, retry.

A claim (`common/shop/outbox.py: claim_due`) is one short transaction: it picks due rows (at
most one per user, and none of a user who has a leased row), bumps attempts and sets the lease,
and commits before any panel call.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from common.shop.outbox import claim_due


@dataclass(frozen=True)
class Claimed:
    id: int
    user_id: int
    action: str
    payload: dict[str, Any]
    attempts: int             # including this one
    created_at: datetime
    alerted: bool
    server: str | None        # where the user's account is; None before they are placed


# Due rows of users who have no row in work, one per user (their oldest), none of a user placed
# on a busy server ($3).
_ELIGIBLE = """
o.id IN (SELECT DISTINCT ON (a.user_id) a.id
         FROM activations a LEFT JOIN vpn_accounts v ON v.user_id = a.user_id
         WHERE a.state = 'pending' AND a.next_attempt_at <= now()
           AND (v.server IS NULL OR NOT v.server = ANY($3::text[]))
           AND NOT EXISTS (SELECT 1 FROM activations b
                           WHERE b.user_id = a.user_id AND b.state = 'pending' AND b.leased_until > now())
         ORDER BY a.user_id, a.id)"""
_RETURNING = """o.id, o.user_id, o.action, o.payload, o.attempts, o.created_at, o.alerted_at IS NOT NULL AS alerted,
                (SELECT server FROM vpn_accounts WHERE user_id = o.user_id) AS server"""


async def claim(conn: asyncpg.Connection, limit: int, lease_seconds: float,
                skip_servers: list[str] | None = None, holder: str | None = None) -> list[Claimed]:
    """Rows of users placed on `skip_servers` stay in the queue: those servers are busy. `holder`
    ("host:pid") is written on the claimed rows, in the caller's transaction."""
    rows = await claim_due(conn, "activations", limit, lease_seconds, returning=_RETURNING, eligible=_ELIGIBLE,
                           args=[list(skip_servers or [])])
    if rows and holder is not None:
        await conn.execute("UPDATE activations SET leased_by = $2 WHERE id = ANY($1::bigint[])",
                           [r["id"] for r in rows], holder)
    return [_claimed(r) for r in rows]


def _claimed(row: asyncpg.Record) -> Claimed:
    payload = row["payload"]
    if isinstance(payload, str):
        payload = orjson.loads(payload)
    return Claimed(id=row["id"], user_id=row["user_id"], action=row["action"], payload=payload or {},
                   attempts=row["attempts"], created_at=row["created_at"], alerted=row["alerted"],
                   server=row["server"])


async def lease_holders(conn: asyncpg.Connection, host: str) -> list[str]:
    """The holders ("host:pid") on `host` of leases still running."""
    rows = await conn.fetch(
        """SELECT DISTINCT leased_by FROM activations
           WHERE state = 'pending' AND leased_until IS NOT NULL AND leased_by LIKE $1 || ':%'""", host)
    return [row["leased_by"] for row in rows]


async def release_leases(conn: asyncpg.Connection, holders: list[str], *, only_holders: bool = False) -> int:
    """At start: frees the leases of `holders` (this host's dead gateways) and leases without a
    holder (taken before holders were recorded), so their rows need not wait for the lease to end.
    Another host's gateway may be working on its leased rows right now: those are left alone.
    `only_holders`: at a drain, just the draining gateway's own."""
    status = await conn.execute(
        """UPDATE activations SET leased_until = NULL, next_attempt_at = now()
           WHERE state = 'pending' AND leased_until IS NOT NULL
             AND (leased_by = ANY($1::text[]) OR (leased_by IS NULL AND NOT $2))""", holders, only_holders)
    return int(status.split()[-1])


async def finish(conn: asyncpg.Connection, activation_id: int) -> bool:
    status = await conn.execute(
        """UPDATE activations SET state = 'done', done_at = now(), leased_until = NULL, last_error = NULL
           WHERE id = $1 AND state = 'pending'""", activation_id)
    return status.endswith(" 1")


async def retry_later(conn: asyncpg.Connection, activation_id: int, delay: float, error: str) -> None:
    await conn.execute(
        """UPDATE activations
           SET next_attempt_at = now() + make_interval(secs => $2), leased_until = NULL, last_error = $3
           WHERE id = $1 AND state = 'pending'""", activation_id, float(delay), error[:500])


async def mark_alerted(conn: asyncpg.Connection, activation_id: int) -> bool:
    """True only the first time: admins hear about a stuck row once."""
    return await conn.fetchval(
        "UPDATE activations SET alerted_at = now() WHERE id = $1 AND alerted_at IS NULL RETURNING true",
        activation_id) is not None


async def pull_forward(conn: asyncpg.Connection) -> int:
    """A panel came back: rows waiting out their backoff may go now."""
    status = await conn.execute(
        """UPDATE activations SET next_attempt_at = now()
           WHERE state = 'pending' AND next_attempt_at > now()
             AND (leased_until IS NULL OR leased_until <= now())""")
    return int(status.split()[-1])


async def pending_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM activations WHERE state = 'pending'")


async def delayed_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM activations WHERE state = 'pending' AND alerted_at IS NOT NULL")


@dataclass(frozen=True)
class ActivationRef:
    id: int
    action: str
    state: str


async def by_key(conn: asyncpg.Connection, key: str) -> ActivationRef | None:
    row = await conn.fetchrow("SELECT id, action, state FROM activations WHERE idempotency_key = $1", key)
    return ActivationRef(row["id"], row["action"], row["state"]) if row else None


async def lock_key(conn: asyncpg.Connection, key: str) -> None:
    """Serialises two requests with the same idempotency key until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 6))", key)
