"""An admin gives a user days: one transaction with the grant (common/shop/access.grant_days,
which queues the activation), the audit row and the user's notification. The activation key
`admin_grant:<request_id>` makes a repeated request (a double tap, a replayed button) a no-op.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from common.contract.outbox import Notice
from common.db.database import Database
from common.shop.access import grant_days
from common.shop.outbox import enqueue_notification
from services.bot.repositories import admin_audit, admin_users

MAX_DAYS = 3650


@dataclass(frozen=True)
class Granted:
    expires_at: datetime | None
    repeated: bool        # this request had been carried out already: nothing changed now


async def grant(db: Database, admin_id: int, user_id: int, days: int, request_id: str) -> Granted | None:
    """None when there is no such user."""
    if not 0 < days <= MAX_DAYS:
        raise ValueError(f"days must be 1..{MAX_DAYS}")
    key = f"admin_grant:{request_id}"
    async with db.transaction() as conn:
        await admin_users.lock_key(conn, key)
        if await admin_users.activation_exists(conn, key):
            return Granted(expires_at=None, repeated=True)
        if not await admin_users.exists(conn, user_id):
            return None
        granted = await grant_days(conn, user_id, days, key=key, reason="admin")
        await admin_audit.record(conn, admin_id, "grant_days", f"user:{user_id}",
                                 {"days": days, "expires_at": granted.expires_at}, request_id=request_id)
        await enqueue_notification(conn, user_id, Notice.ADMIN_GRANT,
                                   {"days": days, "expires_at": granted.expires_at}, key=key)
    return Granted(expires_at=granted.expires_at, repeated=False)
