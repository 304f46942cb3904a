"""Deletes the bot's FSM state of flows not touched for ATCS_FSM_IDLE_DAYS: the bot keeps it in
PostgreSQL so a restart does not lose a flow, and nothing else ever removes an abandoned one."""
from __future__ import annotations

from datetime import datetime, timedelta

from common.db.database import Database
from services.scheduler.jobs.outcome import Outcome
from services.scheduler.repositories import bot_fsm as repo

# Rows per DELETE. Each batch commits on its own, so even a table grown huge over years is
# cleared in short statements that never hold many row locks (or the bot's writes) for long.
DELETE_BATCH = 5000


async def delete_idle_flows(db: Database, now: datetime, *, idle_days: int, batch: int = DELETE_BATCH) -> Outcome:
    outcome = Outcome()
    idle_since = now - timedelta(days=idle_days)
    while True:
        async with db.acquire() as conn:
            deleted = await repo.delete_idle(conn, idle_since, batch)
        outcome.deleted_fsm_rows += deleted
        if deleted < batch:
            return outcome
