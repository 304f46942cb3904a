"""The referrer's bonus: days credited once, on the invitee's first paid purchase."""
from __future__ import annotations

import asyncpg

from common.contract.outbox import Notice
from common.shop.access import grant_days
from common.shop.outbox import enqueue_notification
from services.payments.repositories import shop


async def credit_referrer(conn: asyncpg.Connection, invitee_id: int, referrer: int, purchase_id: int,
                          days: int) -> bool:
    """True if the referrer was credited now; False if the bonus is off or was earned before."""
    if days <= 0:
        return False
    # The primary key on invitee_id is what makes this once, whatever paths race here.
    if not await shop.insert_referral_bonus(conn, invitee_id, referrer, purchase_id, days):
        return False
    key = f"referral:{invitee_id}"
    grant = await grant_days(conn, referrer, days, key=key, reason="referral_bonus")
    await enqueue_notification(conn, referrer, Notice.REFERRAL_BONUS,
                               {"days": days, "expires_at": grant.expires_at}, key=key)
    return True
