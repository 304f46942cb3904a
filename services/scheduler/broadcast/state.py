"""A broadcast row as the contract's BroadcastState (what RPC answers and progress shows)."""
from __future__ import annotations

import asyncpg

from common.contract.scheduler import BroadcastState
from services.scheduler.broadcast.pace import pace
from services.scheduler.settings import SchedulerSettings


def to_state(row: asyncpg.Record, settings: SchedulerSettings) -> BroadcastState:
    total, done = row["total"], row["sent"] + row["failed"] + row["blocked"]
    remaining = max(total - done, 0)
    rate = float(row["rate"] or 0.0)
    eta = None
    if row["state"] in ("queued", "running") and (remaining or row["state"] == "queued"):
        # Before the first messages the configured cap (of its mode) is the best guess of the pace.
        eta = round(remaining / (rate if rate > 0 else pace(settings, row["paid"]).rate), 1)
    return BroadcastState(
        broadcast_id=row["id"], state=row["state"], audience=row["audience"], language=row["language"],
        total=total, sent=row["sent"], failed=row["failed"], blocked=row["blocked"], remaining=remaining,
        in_doubt=row["in_doubt"], throttled=row["throttled"], rate=round(rate, 2), eta_seconds=eta,
        error=row["error"], created_at=row["created_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], paid=row["paid"])
