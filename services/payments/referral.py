"""The referrer's bonus: days credited once, on the invitee's first paid purchase."""
from __future__ import annotations

import asyncpg

from common.contract.outbox import Notice
from common.shop.access import grant_days
from common.shop.outbox import enqueue_notification
from services.payments.repository import shop


async def credit_referrer(conn: asyncpg.Connection, invitee_id: int, purchase_id: int, days: int) -> int | None:
    """Returns the referrer credited, or None (no referrer, bonus off, or already earned)."""
    if days <= 0:
        return None
    referrer = await shop.referrer_of(conn, invitee_id)
    if referrer is None:
        return None
    # The primary key on invitee_id is what makes this once, whatever paths race here.
    if not await shop.insert_referral_bonus(conn, invitee_id, referrer, purchase_id, days):
        return None
    key = f"referral:{invitee_id}"
    grant = await grant_days(conn, referrer, days, key=key, reason="referral_bonus")
    await enqueue_notification(conn, referrer, Notice.REFERRAL_BONUS,
                               {"days": days, "expires_at": grant.expires_at}, key=key)
    return referrer
