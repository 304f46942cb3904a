"""The outboxes: writing rows (call inside the transaction that makes the change; a repeated key
is a no-op) and claiming due rows with a lease (the one claim every outbox worker uses)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson

from common.contract.outbox import Activation, Notice


async def enqueue_activation(conn: asyncpg.Connection, user_id: int, action: Activation, key: str,
                             payload: dict[str, Any] | None = None) -> int | None:
    """Returns the new row's id, or None when a row with this key already exists."""
    return await conn.fetchval(
        """INSERT INTO activations (user_id, action, idempotency_key, payload)
           VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
        user_id, str(action), key, orjson.dumps(payload or {}, default=str).decode())


async def enqueue_notification(conn: asyncpg.Connection, user_id: int, kind: Notice,
                               params: dict[str, Any] | None = None, key: str | None = None) -> int | None:
    return await conn.fetchval(
        """INSERT INTO notifications (user_id, kind, params, idempotency_key)
           VALUES ($1, $2, $3::jsonb, $4)
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
        user_id, str(kind), orjson.dumps(params or {}, default=str).decode(), key)


async def enqueue_notifications(conn: asyncpg.Connection,
                                notices: Sequence[tuple[int, Notice, dict[str, Any], str]]) -> None:
    """`enqueue_notification` for many (user, kind, params, key) in one statement."""
    if not notices:
        return
    await conn.execute(
        """INSERT INTO notifications (user_id, kind, params, idempotency_key)
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::text[])
           ON CONFLICT (idempotency_key) DO NOTHING""",
        [n[0] for n in notices], [str(n[1]) for n in notices],
        [orjson.dumps(n[2], default=str).decode() for n in notices], [n[3] for n in notices])


async def enqueue_admin_alert(conn: asyncpg.Connection, kind: str, subject: str,
                              detail: dict[str, Any] | None = None) -> int:
    return await conn.fetchval(
        "INSERT INTO admin_alerts (kind, subject, detail) VALUES ($1, $2, $3::jsonb) RETURNING id",
        kind, subject, orjson.dumps(detail or {}, default=str).decode())


# The outboxes worked with a lease, and whether a table also keeps the lease in its own column
# (activations: "this user has a row in work" is asked of it; notifications lease by
# next_attempt_at alone; star_renewal_cancels: payments' editUserStarSubscription calls after a
# refund). Table names are never taken from a caller's string.
LEASED_OUTBOXES = {"activations": True, "notifications": False, "star_renewal_cancels": False}


async def claim_due(conn: asyncpg.Connection, outbox: str, limit: int, lease_seconds: float, *,
                    returning: str, eligible: str = "TRUE", args: Sequence[Any] = ()) -> list[asyncpg.Record]:
    """Claims up to `limit` due rows of `outbox` (pending, next_attempt_at passed), oldest first,
    skipping rows another claimer holds locked: each gets attempts + 1 and a lease of
    `lease_seconds` (next_attempt_at moves past it), so it is worked outside any transaction
    and a worker that dies mid-item leaves it to be claimed again when the lease runs out.

    `eligible` narrows the due rows (an SQL condition on the table, aliased `o`, whose own
    parameters start at $3: `args`); `returning` names the columns to return (of `o`). The rows
    come back in id order."""
    has_lease = LEASED_OUTBOXES[outbox]
    lease_column = ", leased_until = now() + make_interval(secs => $2)" if has_lease else ""
    rows = await conn.fetch(
        f"""UPDATE {outbox} o
            SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => $2){lease_column}
            FROM (SELECT id FROM {outbox} o
                  WHERE o.state = 'pending' AND o.next_attempt_at <= now() AND ({eligible})
                  ORDER BY o.id LIMIT $1 FOR UPDATE SKIP LOCKED) due
            WHERE o.id = due.id
            RETURNING {returning}""",
        limit, float(lease_seconds), *args)
    return sorted(rows, key=lambda row: row["id"])  # RETURNING does not keep the subquery's order
