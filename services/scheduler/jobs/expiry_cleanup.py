"""Expiry cleanup: a subscription past its expiry becomes 'expired', and in the same transaction
gets an EXPIRE activation (vpn_gateway revokes the panel account) and the "expired" notice."""
from __future__ import annotations

from datetime import datetime

from common.contract.outbox import Activation, Notice
from common.db.database import Database
from common.shop.outbox import enqueue_activation, enqueue_notification
from services.scheduler.jobs.outcome import Outcome
from services.scheduler.repositories import subscriptions as repo


async def expire_subscriptions(db: Database, now: datetime, *, batch: int) -> Outcome:
    outcome = Outcome()
    after = repo.FIRST
    while True:
        async with db.acquire() as conn:
            candidates = await repo.expired_candidates(conn, now, after, batch)
        if not candidates:
            return outcome
        async with db.transaction() as conn:
            for row in await repo.expire(conn, [c["user_id"] for c in candidates], now):
                activation = await enqueue_activation(
                    conn, row["user_id"], Activation.EXPIRE, row["activation_key"],
                    {"reason": "expired", "expires_at": row["expires_at"]})
                outcome.activations += activation is not None
                if not (row["is_banned"] or row["blocked_bot"]):  # nobody to tell
                    notice = await enqueue_notification(conn, row["user_id"], Notice.SUBSCRIPTION_EXPIRED, {},
                                                        row["notice_key"])
                    outcome.notifications += notice is not None
        if len(candidates) < batch:
            return outcome
        after = (candidates[-1]["expires_at"], candidates[-1]["user_id"])
