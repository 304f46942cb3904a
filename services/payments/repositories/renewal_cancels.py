"""star_renewal_cancels: the editUserStarSubscription calls a refund owes Telegram (migration 0170).

Written by `Refunds.take_back` in the refund's transaction, worked by `services/payments/
renewal_cancels.py` through the common claim-with-lease (`common/shop/outbox.py: claim_due`)."""
from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from common.shop.outbox import claim_due


@dataclass(frozen=True)
class Due:
    id: int
    subscription_id: int     # star_subscriptions.purchase_id
    refund_of: int
    attempts: int            # this one included


async def queue(conn: asyncpg.Connection, subscription_id: int, refund_of: int) -> bool:
    """Marks the subscription cancelled by this refund and queues the call that makes Telegram stop
    renewing it. Idempotent: a later refund of another of its charges changes nothing. False when
    there is no such subscription (its first charge never settled here)."""
    marked = await conn.fetchval(
        """UPDATE star_subscriptions SET canceled = true, canceled_by_refund = coalesce(canceled_by_refund, $2),
                                         updated_at = now()
           WHERE purchase_id = $1 RETURNING true""",
        subscription_id, refund_of)
    if not marked:
        return False
    await conn.execute(
        """INSERT INTO star_renewal_cancels (subscription_id, refund_of) VALUES ($1, $2)
           ON CONFLICT (subscription_id) DO NOTHING""",
        subscription_id, refund_of)
    return True


async def requeue(conn: asyncpg.Connection, subscription_id: int) -> None:
    """Telegram may have been told to renew after our cancel went through (a user's re-enable racing
    the refund): the cancel is owed again."""
    await conn.execute(
        """UPDATE star_renewal_cancels SET state = 'pending', next_attempt_at = now(), done_at = NULL
           WHERE subscription_id = $1""",
        subscription_id)


async def claim(conn: asyncpg.Connection, limit: int, lease_seconds: float) -> list[Due]:
    rows = await claim_due(conn, "star_renewal_cancels", limit, lease_seconds,
                           returning="o.id, o.subscription_id, o.refund_of, o.attempts")
    return [Due(**dict(r)) for r in rows]


async def done(conn: asyncpg.Connection, cancel_id: int) -> None:
    await conn.execute(
        "UPDATE star_renewal_cancels SET state = 'done', done_at = now(), last_error = NULL WHERE id = $1",
        cancel_id)


async def retry(conn: asyncpg.Connection, cancel_id: int, error: str, pause: float) -> None:
    await conn.execute(
        """UPDATE star_renewal_cancels SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3)
           WHERE id = $1 AND state = 'pending'""",
        cancel_id, error[:500], float(pause))


async def failed(conn: asyncpg.Connection, cancel_id: int, error: str) -> None:
    await conn.execute(
        "UPDATE star_renewal_cancels SET state = 'failed', last_error = $2 WHERE id = $1", cancel_id, error[:500])


async def pending_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM star_renewal_cancels WHERE state = 'pending'")
