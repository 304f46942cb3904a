"""The automatic end of a pause: a subscription whose frozen_until has come is unfrozen (by the
one rule, common/shop/freeze.py: its days resume, the panel account is switched on again by the
activation it writes; vpn_gateway then sends the user their key with the new expiry). One
transaction per user; a user who unfroze a moment earlier is skipped (unfreeze returns None)."""
from __future__ import annotations

from datetime import datetime

from common.db.database import Database
from common.shop.freeze import unfreeze
from services.scheduler.jobs.outcome import Outcome
from services.scheduler.repositories import subscriptions as repo


async def end_pauses(db: Database, now: datetime, *, batch: int) -> Outcome:
    outcome = Outcome()
    while True:
        async with db.acquire() as conn:
            due = await repo.thaw_due(conn, now, batch)
        for user_id in due:
            async with db.transaction() as conn:
                thawed = await unfreeze(conn, user_id, now=now, by="schedule")
            outcome.activations += thawed is not None
        if len(due) < batch:
            return outcome
