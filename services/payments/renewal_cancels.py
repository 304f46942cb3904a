"""After a refund of a Telegram Stars subscription's charge, Telegram is told to stop renewing it.

Telegram's refundStarPayment (and a user's chargeback) gives the Stars back and leaves the
subscription renewing: the Bot API documents no cancel on refund, and editUserStarSubscription
with is_canceled = true is the bot's to call. The refund's transaction (`Refunds.take_back`) marks
the subscription cancelled and queues the call (`repositories/renewal_cancels.py`); this worker
makes it. It is idempotent on Telegram's side (it sets a state), so a lease that runs out and a
second call do no harm. Telegram unreachable or flooded: tried again with a doubling pause. A
refusal is final: done when the subscription has ended anyway (Telegram says it expired, or its
paid period is over: nothing left to renew), else the admins are alerted, since Telegram may
still charge the user.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from common.db.database import Database
from common.lifecycle.worker import WorkerLoop
from common.shop.outbox import enqueue_admin_alert
from common.telegram.bot_api import BotApiError
from services.payments.repositories import renewal_cancels as repo
from services.payments.repositories import star_subscriptions
from services.payments.stars_api import StarsApi

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0     # one Bot API call, bounded by its own timeout well inside this
RESCAN_SECONDS = 30.0    # a lost nudge, or a retry that came due
BATCH = 20
DUE_MARGIN = 0.05        # seconds: the database's clock and the loop's may differ by a little


class RenewalCancels:
    def __init__(self, db: Database, bot_api: StarsApi | None, *, retry_base: float, retry_max: float = 600.0) -> None:
        self.db = db
        self.bot_api = bot_api
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.loop: WorkerLoop[repo.Due] = WorkerLoop(
            "star_renewal_cancels", db, claim=self._claim, work=self._cancel, rescan=min(RESCAN_SECONDS, retry_max),
            batch=BATCH)

    def nudge(self) -> None:
        self.loop.nudge()

    async def run(self) -> None:
        await self.loop.run()

    async def drain(self, grace: float) -> None:
        await self.loop.drain(grace)

    async def pass_once(self) -> bool:
        return await self.loop.pass_once()

    async def _claim(self, limit: int) -> list[repo.Due]:
        async with self.db.transaction() as conn:
            return await repo.claim(conn, limit, LEASE_SECONDS)

    async def _cancel(self, due: repo.Due) -> None:
        async with self.db.acquire() as conn:
            sub = await star_subscriptions.get(conn, due.subscription_id)
            now: datetime = await conn.fetchval("SELECT now()")
        assert sub is not None   # the row references it
        if self.bot_api is None:
            await self._retry(due, "the Bot API is not configured")
            return
        try:
            await self.bot_api.edit_user_star_subscription(sub.user_id, sub.charge_id, True)
        except BotApiError as exc:
            if exc.transient:
                await self._retry(due, f"{exc.status} {exc.description}")
            elif "EXPIRED" in exc.description.upper() or (sub.period_end is not None and sub.period_end <= now):
                await self._done(due, f"the subscription has ended, nothing renews: {exc.description}")
            else:
                await self._refused(due, sub.user_id, exc.description)
            return
        await self._done(due)

    async def _done(self, due: repo.Due, note: str | None = None) -> None:
        async with self.db.acquire() as conn:
            await repo.done(conn, due.id)
        log.info("stars renewal cancelled after a refund", extra={
            "subscription": due.subscription_id, "refund_of": due.refund_of, "attempts": due.attempts,
            **({"note": note} if note else {})})

    async def _retry(self, due: repo.Due, error: str) -> None:
        pause = min(self.retry_base * 2 ** min(due.attempts - 1, 30), self.retry_max)
        async with self.db.acquire() as conn:
            await repo.retry(conn, due.id, error, pause)
        # Woken just after it is due (by the database's clock) rather than at the next rescan;
        # after a restart the rescan finds it.
        asyncio.get_running_loop().call_later(pause + DUE_MARGIN, self.loop.nudge)
        log.warning("stars renewal cancel postponed", extra={"subscription": due.subscription_id,
                                                             "attempts": due.attempts, "pause": pause, "error": error})

    async def _refused(self, due: repo.Due, user_id: int, error: str) -> None:
        async with self.db.transaction() as conn:
            await repo.failed(conn, due.id, error)
            await enqueue_admin_alert(conn, "stars_renewal_cancel_failed", f"Stars subscription {due.subscription_id}", {
                "user_id": user_id, "refund_of": due.refund_of, "error": error,
                "action": "Telegram refused to cancel the renewal of a refunded subscription; it may charge again"})
        log.error("stars renewal cancel refused", extra={"subscription": due.subscription_id, "error": error})
