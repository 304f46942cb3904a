"""The trial-ending notice, once per trial, ATCS_TRIAL_ENDING_HOURS before it ends."""
from __future__ import annotations

from datetime import datetime

from common.contract.outbox import Notice
from common.db.database import Database
from common.shop.outbox import enqueue_notification
from services.scheduler.jobs.outcome import Outcome
from services.scheduler.repositories import subscriptions as repo


async def send_trial_notices(db: Database, now: datetime, *, hours: int, batch: int) -> Outcome:
    outcome = Outcome()
    after = repo.FIRST
    while True:
        async with db.transaction() as conn:
            rows = await repo.trial_ending_candidates(conn, now, hours, after, batch)
            for row in rows:
                written = await enqueue_notification(conn, row["user_id"], Notice.TRIAL_ENDING,
                                                     {"expires_at": row["expires_at"]}, row["key"])
                outcome.notifications += written is not None
        if len(rows) < batch:
            return outcome
        after = (rows[-1]["expires_at"], rows[-1]["user_id"])
