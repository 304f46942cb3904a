"""Expiry reminders (ATCS_REMINDER_DAYS, e.g. 3 and 1 days before): each once per threshold and
subscription period. A subscription is in exactly one threshold's window at a time — the
tightest one it has reached — so a scheduler that was down for two days sends the 1-day
reminder, not a stale 3-day one first.

A subscription that Telegram renews by itself (an active, not cancelled Stars subscription) is
never told to renew: its user gets one notice, inside the widest reminder window before the
charge, that it renews on that date for that many Stars and how to cancel (the Bot API documents
no message of Telegram's own before a bot subscription's charge; the user sees it only in Telegram's
settings). Cancelled, it gets the usual reminders; paused, none (common/shop/freeze.py)."""
from __future__ import annotations

from datetime import datetime

from common.contract.outbox import Notice
from common.db.database import Database
from common.shop.outbox import enqueue_notification
from services.scheduler.jobs.outcome import Outcome
from services.scheduler.repositories import subscriptions as repo


async def send_reminders(db: Database, now: datetime, *, days: list[int], auto_renew_days: int,
                         batch: int) -> Outcome:
    outcome = Outcome()
    thresholds = sorted(days)
    for index, threshold in enumerate(thresholds):
        tighter = thresholds[index - 1] if index else 0
        after = repo.FIRST
        while True:
            async with db.transaction() as conn:
                rows = await repo.reminder_candidates(conn, now, threshold, tighter, auto_renew_days, after, batch)
                for row in rows:
                    written = await enqueue_notification(
                        conn, row["user_id"], Notice.EXPIRY_REMINDER,
                        {"days_left": threshold, "expires_at": row["expires_at"]}, row["key"])
                    outcome.notifications += written is not None
            if len(rows) < batch:
                break
            after = (rows[-1]["expires_at"], rows[-1]["user_id"])
    if thresholds:
        outcome += await _stars_renewal_notices(db, now, thresholds[-1], batch)
    return outcome


async def _stars_renewal_notices(db: Database, now: datetime, days: int, batch: int) -> Outcome:
    outcome = Outcome()
    after = repo.FIRST
    while True:
        async with db.transaction() as conn:
            rows = await repo.stars_renewal_candidates(conn, now, days, after, batch)
            for row in rows:
                written = await enqueue_notification(
                    conn, row["user_id"], Notice.STARS_RENEWS,
                    {"renews_at": row["renews_at"], "amount": row["amount"]}, row["key"])
                outcome.notifications += written is not None
        if len(rows) < batch:
            return outcome
        after = (rows[-1]["renews_at"], rows[-1]["user_id"])
