"""Auto-renewal from balance, ATCS_AUTO_RENEW_DAYS_BEFORE days before expiry, with the same plan
at its current price. One transaction per user: ledger row, balance, days (access.grant_days,
which queues the activation) and the notice commit together or not at all. The ledger's unique
(kind, reference = <user>:<expiry date>) makes a second debit for the same period impossible,
even if two schedulers ever overlapped. Short of money: one AUTO_RENEW_FAILED notice (with a
top-up button, rendered by the bot) per period; a top-up before expiry still renews."""
from __future__ import annotations

from datetime import datetime

from common.contract.outbox import Notice
from common.db.database import Database
from common.shop import ledger
from common.shop.access import grant_days
from common.shop.outbox import enqueue_notification
from services.scheduler.jobs.outcome import Outcome
from services.scheduler.repositories import subscriptions as repo


async def renew_from_balance(db: Database, now: datetime, *, days_before: int, currency: str,
                             batch: int) -> Outcome:
    outcome = Outcome()
    after = repo.FIRST
    while True:
        async with db.acquire() as conn:
            candidates = await repo.renewal_candidates(conn, now, days_before, after, batch)
        for candidate in candidates:
            outcome += await renew_one(db, candidate["user_id"], candidate["expires_at"], currency)
        if len(candidates) < batch:
            return outcome
        after = (candidates[-1]["expires_at"], candidates[-1]["user_id"])


async def renew_one(db: Database, user_id: int, expires_at: datetime, currency: str) -> Outcome:
    async with db.transaction() as conn:
        sub = await repo.lock_for_renewal(conn, user_id)
        if (sub is None or sub["expires_at"] != expires_at or sub["status"] != "active" or not sub["auto_renew"]
                or sub["is_trial"] or not sub["plan_active"] or sub["is_banned"] or sub["frozen_at"] is not None):
            return Outcome()  # changed since it was picked: the next pass sees the new state
        price = sub["price"]
        if sub["balance"] < price:
            notice = await enqueue_notification(
                conn, user_id, Notice.AUTO_RENEW_FAILED,
                {"needed": price, "balance": sub["balance"], "currency": currency}, sub["failed_key"])
            return Outcome(notifications=int(notice is not None))
        # The balance was checked under the row lock; the ledger rule (shared with payments) keeps
        # the debit once per period and the balance never below zero.
        if await ledger.apply(conn, user_id, -price, "renewal", sub["ledger_reference"]) is None:
            return Outcome()  # this period was paid already
        grant = await grant_days(conn, user_id, sub["days"], key=sub["activation_key"], plan_id=sub["plan_id"],
                                 reason="auto_renewal")
        notice = await enqueue_notification(
            conn, user_id, Notice.AUTO_RENEWED,
            {"expires_at": grant.expires_at, "amount": price, "currency": currency}, sub["renewed_key"])
        return Outcome(renewed=1, notifications=int(notice is not None),
                       activations=int(grant.activation_id is not None))
