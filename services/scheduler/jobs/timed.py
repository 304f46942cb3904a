"""The leader's periodic pass over subscriptions, every ATCS_SCHEDULER_TICK seconds: the end of
pauses first (an unfrozen subscription is then renewed, reminded and expired like any other),
auto-renewal (a renewed subscription needs no reminder and must not expire), then trial notices,
reminders, expiry cleanup, the deletion of old export files, and the deletion of the
bot's FSM state of abandoned flows.

A job that fails is logged and the others still run; the next pass retries it. After a pass
that wrote rows, the bot and vpn_gateway are nudged (best effort).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.scheduler.settings import Settings
from common.db.database import Database, DatabaseUnavailable, is_outage
from common.ipc.nudges import PeerNudges
from services.scheduler.jobs.auto_renewal import renew_from_balance
from services.scheduler.jobs.expiry_cleanup import expire_subscriptions
from services.scheduler.jobs.export_cleanup import delete_old_exports
from services.scheduler.jobs.fsm_cleanup import delete_idle_flows
from services.scheduler.jobs.outcome import Outcome
from services.scheduler.jobs.reminders import send_reminders
from services.scheduler.jobs.trial_ending import send_trial_notices
from services.scheduler.jobs.unfreeze import end_pauses

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class TimedJobs:
    def __init__(self, db: Database, settings: Settings, nudger: PeerNudges | None, clock: Clock = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.nudger = nudger
        self.clock = clock
        self.passes = 0
        self.last: dict[str, dict[str, Any]] = {}

    def describe(self) -> dict[str, Any]:
        return {"passes": self.passes, "jobs": self.last}

    def jobs(self) -> list[tuple[str, Callable[[datetime], Awaitable[Outcome]]]]:
        s, shop = self.settings.scheduler, self.settings.shop
        return [
            ("unfreeze", lambda now: end_pauses(self.db, now, batch=s.scheduler_batch)),
            ("auto_renewal", lambda now: renew_from_balance(
                self.db, now, days_before=shop.auto_renew_days_before,
                currency=self.settings.cryptopay.shop_currency, batch=s.scheduler_batch)),
            ("trial_ending", lambda now: send_trial_notices(self.db, now, hours=s.trial_ending_hours,
                                                            batch=s.scheduler_batch)),
            ("reminders", lambda now: send_reminders(self.db, now, days=s.reminder_days,
                                                     auto_renew_days=shop.auto_renew_days_before,
                                                     batch=s.scheduler_batch)),
            ("expiry_cleanup", lambda now: expire_subscriptions(self.db, now, batch=s.scheduler_batch)),
            ("export_cleanup", lambda now: delete_old_exports(self.db, keep_hours=s.export_keep_hours)),
            ("fsm_cleanup", lambda now: delete_idle_flows(self.db, now, idle_days=s.fsm_idle_days)),
        ]

    async def run(self) -> None:
        while True:
            await self.db.wait_ready()
            await self.run_once()
            await asyncio.sleep(self.settings.scheduler.scheduler_tick)

    async def run_once(self, now: datetime | None = None) -> Outcome:
        now = now or self.clock()
        total = Outcome()
        for name, job in self.jobs():
            started = time.monotonic()
            entry: dict[str, Any] = {"at": now.isoformat()}
            try:
                outcome = await job(now)
            except (DatabaseUnavailable, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                if is_outage(exc):  # the database went away (before or under this job): wait for it
                    entry["error"] = f"database unavailable: {exc}"
                    self.last[name] = entry
                    log.warning("timed jobs paused: database unavailable", extra={"job": name, "error": str(exc)})
                    break
                entry["error"] = f"{type(exc).__name__}: {exc}"
                self.last[name] = entry
                log.error("timed job failed", extra={"job": name, "error": entry["error"]})
                continue
            entry.update(outcome.as_dict(), seconds=round(time.monotonic() - started, 3))
            self.last[name] = entry
            total += outcome
            if outcome.as_dict():
                log.info("timed job wrote rows", extra={"job": name, **outcome.as_dict()})
        self.passes += 1
        if self.nudger is not None:
            if total.notifications:
                self.nudger.nudge("bot")
            if total.activations:
                self.nudger.nudge("vpn_gateway")
        return total
