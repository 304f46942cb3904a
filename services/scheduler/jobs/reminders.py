"""Expiry reminders (ATCS_REMINDER_DAYS, e.g. 3 and 1 days before): each once per threshold and
subscription period. A subscription is in exactly one threshold's window at a time — the
tightest one it has reached — so a scheduler that was down for two days sends the 1-day
reminder, not a stale 3-day one first."""
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
    return outcome
