"""The one settlement function. The webhook, Crypto Pay reconciliation, the bot's Stars
successful_payment, Stars reconciliation and an admin's manual check all end here.

One transaction: lock the purchase, decide (settle / flag / unknown) from reads only, record the
payment event under its provider key — a report seen before stops here having changed nothing —
and, in the same statement, move the purchase pending -> paid (compare-and-set); then credit it
(days or balance), write the outbox rows (activation, notification, referral bonus), commit.
Nudges go out after the commit. `settle_many` runs several settlements in one transaction (one
commit for a batch of confirmed webhook claims), the plain ones set-based (`settle_batch_in`: a
few statements for the whole batch instead of five per payment); should one of them fail, the
batch is settled again with each payment through settle_in in its own savepoint.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from common.contract.outbox import Notice
from common.db.database import Database
from common.ipc.nudges import PeerNudges
from common.shop.access import DaysWanted, grant_days_many
from common.shop.outbox import enqueue_admin_alert, enqueue_notification, enqueue_notifications
from common.shop import ledger, promos, traffic
from services.payments.plan_changes import complete_paid
from services.payments.promo_holds import settlement_refusal
from services.payments.referral import credit_referrer
from services.payments.repositories import events, gifts, purchases, star_subscriptions
from services.payments.repositories.purchases import Purchase

log = logging.getLogger(__name__)

Provider = Literal["cryptobot", "stars"]
Source = Literal["webhook", "reconcile", "stars_update", "stars_reconcile", "check"]
Status = Literal["settled", "duplicate", "flagged", "unknown"]


@dataclass(frozen=True)
class Payment:
    """A provider's word that money arrived, from whichever path heard it."""
    provider: Provider
    ref: str                                   # invoice_id / telegram_payment_charge_id: the dedupe key
    source: Source
    purchase_hint: int | None                  # our purchase id, from the invoice payload
    mismatch: Callable[[Purchase], str | None]  # why it does not pay for that purchase, if it does not
    paid_asset: str | None = None
    paid_amount: Decimal | None = None
    update_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    period_end: datetime | None = None          # a Stars subscription charge: the paid period's end, if told


@dataclass(frozen=True)
class Outcome:
    status: Status
    purchase_id: int | None
    reason: str | None = None


Settle = Callable[[Payment], Awaitable[Outcome]]
# Writes of the caller's own in a batch's transaction, given each payment's outcome (None: it failed).
Also = Callable[[asyncpg.Connection, "list[Outcome | None]"], Awaitable[None]]


_CONNECTION_LOST = (asyncpg.PostgresConnectionError, asyncpg.exceptions.AdminShutdownError,
                    asyncpg.exceptions.CannotConnectNowError)


@dataclass(frozen=True)
class CreditTerms:
    """The shop's terms crediting applies (ATCS_REFERRAL_BONUS_DAYS, ATCS_GIFT_VALID_DAYS)."""
    referral_bonus_days: int
    gift_valid_days: int


class Overloaded(Exception):
    """Too many settlements queued already; the caller should answer "retry later"."""


class Settlement:
    def __init__(self, db: Database, nudger: PeerNudges, terms: CreditTerms, *, concurrency: int,
                 max_queued: int = 1000) -> None:
        self.db = db
        self.nudger = nudger
        self.terms = terms
        # Settlements queue here rather than on the pool: a burst must not hold every connection
        # (RPCs and reconciliation need one too) nor time out waiting for one, which the Database
        # would take for the server being down.
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight = 0
        self._max_queued = max_queued
        self.counts: dict[str, int] = {"settled": 0, "duplicate": 0, "flagged": 0, "unknown": 0}

    async def settle(self, payment: Payment) -> Outcome:
        self._admit(1)
        try:
            async with self._slots:
                async with self.db.transaction() as conn:
                    outcome = await settle_in(conn, payment, self.terms)
        finally:
            self._in_flight -= 1
        self._counted(payment, outcome)
        return outcome

    async def settle_many(self, payments: list[Payment], also: Also | None = None) -> list[Outcome | None]:
        """Several payments in one transaction, so that one commit (one flush to disk) covers them
        all; each in its own savepoint, so that one whose settlement fails is rolled back alone
        (None in its place, logged) while the others commit. `also` writes in the same transaction,
        given the outcomes. A lost connection fails the whole batch (DatabaseUnavailable)."""
        self._admit(len(payments))
        try:
            async with self._slots:
                try:
                    # Optimistic: no savepoint per payment (two round trips each, a third of a
                    # settlement's), as almost every batch settles whole. Should one fail, all is
                    # rolled back and the batch is settled again, each payment in its savepoint.
                    async with self.db.transaction() as conn:
                        outcomes: list[Outcome | None] = list(await settle_batch_in(conn, payments, self.terms))
                        if also is not None:
                            await also(conn, outcomes)
                except _CONNECTION_LOST:
                    raise
                except (asyncpg.PostgresError, RuntimeError) as exc:
                    log.warning("a settlement failed in its batch; the batch is settled again one by one",
                                extra={"payments": len(payments), "error": type(exc).__name__})
                    async with self.db.transaction() as conn:
                        outcomes = [await self._settle_alone(conn, payment) for payment in payments]
                        if also is not None:
                            await also(conn, outcomes)
        finally:
            self._in_flight -= len(payments)
        for payment, outcome in zip(payments, outcomes):
            if outcome is not None:
                self._counted(payment, outcome)
        return outcomes

    async def _settle_alone(self, conn: asyncpg.Connection, payment: Payment) -> Outcome | None:
        try:
            async with conn.transaction():
                return await settle_in(conn, payment, self.terms)
        except _CONNECTION_LOST:
            raise
        except (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError) as exc:
            # Two batches (or a batch and reconciliation) crediting the same user in opposite
            # orders: PostgreSQL rolls one back to its savepoint. Expected under concurrency and
            # harmless: the caller keeps the payment and tries it again.
            log.warning("settlement met a concurrent one; it is tried again",
                        extra={"provider": payment.provider, "ref": payment.ref, "error": type(exc).__name__})
            return None
        except (asyncpg.PostgresError, RuntimeError):
            log.exception("settlement failed; the rest of its batch goes on",
                          extra={"provider": payment.provider, "ref": payment.ref})
            return None

    def _admit(self, count: int) -> None:
        if self._in_flight + count > self._max_queued:
            raise Overloaded(f"{self._in_flight} settlements in flight")
        self._in_flight += count

    def _counted(self, payment: Payment, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        if outcome.status == "settled":
            self.nudger.nudge("vpn_gateway", "bot")
        elif outcome.status != "duplicate":
            self.nudger.nudge("bot")
            log.warning("payment needs an admin", extra={"provider": payment.provider, "ref": payment.ref,
                                                         "outcome": outcome.status, "reason": outcome.reason,
                                                         "purchase_id": outcome.purchase_id})


async def settle_in(conn: asyncpg.Connection, payment: Payment, terms: CreditTerms) -> Outcome:
    """Settlement inside the caller's transaction (see the module docstring)."""
    if payment.provider == "cryptobot":
        purchase = await purchases.lock_for_invoice(conn, payment.ref, payment.purchase_hint)
    else:
        purchase = await purchases.lock_stars(conn, payment.purchase_hint)
        if purchase is not None and _renews(purchase, payment):
            # Every charge of a Stars subscription carries the first invoice's payload: a charge
            # other than the one that paid it is a renewal, which pays for a purchase of its own.
            purchase = await purchases.lock_stars(conn, await purchases.open_renewal(conn, purchase, payment.ref))

    reason: str | None
    own = True  # does this payment concern the purchase's own invoice (then a mismatch flags it)?
    if purchase is None:
        status: Status = "unknown"
        reason = "no purchase matches this payment"
    elif not purchase.settleable:
        # A second, different payment for one purchase (a second Stars charge, an orphaned
        # invoice): real money, but never a second credit.
        status, reason, own = "flagged", f"purchase is already {purchase.status}", False
    elif payment.provider == "cryptobot" and purchase.provider_invoice_id not in (None, payment.ref):
        # An orphaned invoice for this purchase (a retried create_invoice): the purchase's own
        # invoice stays payable, so only this payment goes to the admins.
        status, own = "flagged", False
        reason = f"invoice {payment.ref} is not the one issued for this purchase ({purchase.provider_invoice_id})"
    else:
        reason = payment.mismatch(purchase)
        if reason is None and purchase.promo_code_id is not None:
            reason = await settlement_refusal(conn, purchase)
        status = "flagged" if reason else "settled"

    purchase_id = purchase.id if purchase else None
    if status == "settled":
        assert purchase is not None
        first, moved = await events.record_settlement(
            conn, provider=payment.provider, ref=payment.ref, source=payment.source, purchase_id=purchase.id,
            update_id=payment.update_id, detail=payment.detail, paid_asset=payment.paid_asset,
            paid_amount=payment.paid_amount)
        if first and not moved:
            # Impossible while we hold the row lock and saw it settleable; refuse to credit blind.
            raise RuntimeError(f"purchase {purchase.id} changed under its lock")
    else:
        first = await events.record(conn, provider=payment.provider, ref=payment.ref, source=payment.source,
                                    outcome=status, purchase_id=purchase_id, update_id=payment.update_id,
                                    reason=reason, detail=payment.detail)
    if not first:
        return Outcome("duplicate", await events.purchase_of(conn, payment.provider, payment.ref))

    if status == "settled":
        assert purchase is not None
        await credit(conn, purchase, terms)
        if purchase.recurring:
            await star_subscriptions.record_charge(
                conn, first_purchase_id=purchase.renewal_of or purchase.id, user_id=purchase.user_id,
                charge_id=payment.ref, plan_id=purchase.plan_id, amount=int(purchase.amount),
                period_end=payment.period_end, renewal=purchase.renewal_of is not None)
    elif status == "flagged":
        assert purchase is not None and reason is not None
        await _flag(conn, purchase, payment, reason, mark=own)
    else:
        await enqueue_admin_alert(conn, "payment_unknown", f"{payment.provider} payment {payment.ref}",
                                  {"source": payment.source, "hint": payment.purchase_hint, **payment.detail})
    return Outcome(status, purchase_id, reason)


def _renews(purchase: Purchase, payment: Payment) -> bool:
    return (purchase.recurring and purchase.renewal_of is None and not purchase.settleable
            and purchase.provider_charge_id is not None and purchase.provider_charge_id != payment.ref)


async def credit(conn: asyncpg.Connection, purchase: Purchase, terms: CreditTerms) -> None:
    """Gives what a purchase bought, in the transaction that marked it paid: days, a gift link,
    traffic or balance; spends its promo code's use; the referrer's bonus on a first payment."""
    key = f"purchase:{purchase.id}"
    if purchase.promo_code_id is not None:
        promo = await promos.get(conn, purchase.promo_code_id)
        if promo is None or not await promos.spend(conn, promo, purchase.user_id, purchase.id):
            raise RuntimeError(f"purchase {purchase.id} could not spend its promo code")
    if purchase.kind == "subscription":
        if not purchase.days:
            raise RuntimeError(f"subscription purchase {purchase.id} has no days")
        [grant] = await grant_days_many(conn, [_days_bought(purchase)])
        if purchase.amount > 0:   # a plan a code gave free is told on the screen that claimed it
            await enqueue_notification(conn, *_days_told(purchase, grant.expires_at))
    elif purchase.kind == "gift":
        if not purchase.days:
            raise RuntimeError(f"gift purchase {purchase.id} has no days")
        made = await gifts.create(conn, purchase_id=purchase.id, giver_id=purchase.user_id, plan_id=purchase.plan_id,
                                  days=purchase.days, traffic_limit_bytes=purchase.traffic_limit_bytes,
                                  valid_days=terms.gift_valid_days)
        if made is None:
            raise RuntimeError(f"gift purchase {purchase.id} had its gift before it was paid")
        await enqueue_notification(conn, purchase.user_id, Notice.GIFT_READY, {
            "token": made.token, "days": made.days, "valid_until": made.valid_until,
            "amount": purchase.amount, "currency": purchase.currency,
        }, key=f"payment:{purchase.id}")
    elif purchase.kind == "change":
        await complete_paid(conn, purchase)
    elif purchase.kind == "traffic":
        if not purchase.traffic_limit_bytes:
            raise RuntimeError(f"traffic purchase {purchase.id} has no bytes")
        limit = await traffic.add_package(conn, purchase.user_id, purchase.traffic_limit_bytes, key=key)
        if limit is None:
            raise RuntimeError(f"traffic purchase {purchase.id} has no subscription to add to")
        if purchase.method != "balance":   # one paid from the balance is told on the screen that bought it
            await enqueue_notification(conn, purchase.user_id, Notice.TRAFFIC_ADDED, {
                "gb": purchase.traffic_limit_bytes // 1024 ** 3, "limit_bytes": limit,
                "amount": purchase.amount, "currency": purchase.currency,
            }, key=f"payment:{purchase.id}")
    else:
        balance = await ledger.apply(conn, purchase.user_id, purchase.amount, "topup", key)
        if balance is None:
            raise RuntimeError(f"top-up {purchase.id} was in the ledger before it was paid")
        await enqueue_notification(conn, purchase.user_id, Notice.TOPUP_RECEIVED, {
            "amount": purchase.amount, "currency": purchase.currency, "balance": balance,
        }, key=f"payment:{purchase.id}")
    await _credit_referrer(conn, purchase, terms)


async def _credit_referrer(conn: asyncpg.Connection, purchase: Purchase, terms: CreditTerms) -> None:
    # A plan given free by a code is no payment: it earns the referrer nothing (else a code could farm bonuses).
    if purchase.referred_by is not None and purchase.amount > 0:
        await credit_referrer(conn, purchase.user_id, purchase.referred_by, purchase.id, terms.referral_bonus_days)


def _days_bought(purchase: Purchase) -> DaysWanted:
    assert purchase.days
    return DaysWanted(purchase.user_id, purchase.days, f"purchase:{purchase.id}",
                      traffic_limit_bytes=purchase.traffic_limit_bytes, plan_id=purchase.plan_id, reason="purchase")


def _days_told(purchase: Purchase, expires_at: datetime) -> tuple[int, Notice, dict[str, Any], str]:
    """The user's "payment received" for a subscription purchase: (user, kind, params, key)."""
    return (purchase.user_id, Notice.PAYMENT_RECEIVED, {
        "amount": purchase.amount, "currency": purchase.currency,
        "plan_code": purchase.plan_code, "expires_at": expires_at,
    }, f"payment:{purchase.id}")


def _plain(purchase: Purchase | None, payment: Payment) -> bool:
    """A Crypto Pay payment of a pending plan purchase, as nearly all are: what settle_in would do
    for it is what `settle_batch_in` does in a handful of statements for a whole batch. Anything
    else (unknown, flagged, a promo code, a gift, a top-up, a second invoice) goes through settle_in."""
    return (purchase is not None and payment.provider == "cryptobot" and purchase.settleable
            and purchase.provider_invoice_id in (None, payment.ref) and purchase.kind == "subscription"
            and bool(purchase.days) and purchase.promo_code_id is None and not purchase.recurring
            and payment.mismatch(purchase) is None)


async def settle_batch_in(conn: asyncpg.Connection, payments: list[Payment], terms: CreditTerms) -> list[Outcome]:
    """settle_in for each payment, in the caller's transaction, with the same outcomes and writes; the
    plain ones (see `_plain`) set-based: their purchases locked in one statement, their events and
    compare-and-sets in one, days and activations in one, notifications in one. A payment whose ref,
    purchase or user is already among them, and every other payment, goes through settle_in after."""
    outcomes: list[Outcome | None] = [None] * len(payments)
    crypto = [i for i, payment in enumerate(payments) if payment.provider == "cryptobot"]
    locked = await purchases.lock_for_invoices(conn, [(payments[i].ref, payments[i].purchase_hint) for i in crypto])
    plain: list[tuple[int, Purchase]] = []
    taken: set[object] = set()
    for i, purchase in zip(crypto, locked):
        payment = payments[i]
        if purchase is None or not _plain(purchase, payment):
            continue
        keys = {("ref", payment.ref), ("purchase", purchase.id), ("user", purchase.user_id)}
        if keys & taken:
            continue
        taken |= keys
        plain.append((i, purchase))

    recorded = await events.record_settlements(conn, "cryptobot", [
        events.Settling(payments[i].ref, payments[i].source, purchase.id, payments[i].update_id,
                        payments[i].detail, payments[i].paid_asset, payments[i].paid_amount)
        for i, purchase in plain])
    settled: list[tuple[int, Purchase]] = []
    for (i, purchase), (first, moved) in zip(plain, recorded):
        if first and not moved:
            raise RuntimeError(f"purchase {purchase.id} changed under its lock")
        if first:
            settled.append((i, purchase))
        else:   # reported before (its event is there), though the purchase was still settleable
            outcomes[i] = Outcome("duplicate", await events.purchase_of(conn, "cryptobot", payments[i].ref))
    grants = await grant_days_many(conn, [_days_bought(purchase) for _, purchase in settled])
    await enqueue_notifications(conn, [_days_told(purchase, grant.expires_at)
                                       for (_, purchase), grant in zip(settled, grants) if purchase.amount > 0])
    for i, purchase in settled:
        await _credit_referrer(conn, purchase, terms)
        outcomes[i] = Outcome("settled", purchase.id, None)

    for i, payment in enumerate(payments):
        if outcomes[i] is None:
            outcomes[i] = await settle_in(conn, payment, terms)
    return [outcome for outcome in outcomes if outcome is not None]


async def _flag(conn: asyncpg.Connection, purchase: Purchase, payment: Payment, reason: str, *, mark: bool) -> None:
    if mark:
        await purchases.mark_flagged(conn, purchase.id, reason, payment.paid_asset, payment.paid_amount)
    await enqueue_admin_alert(conn, "payment_flagged", f"purchase {purchase.id}", {
        "reason": reason, "provider": payment.provider, "ref": payment.ref, "source": payment.source,
        "user_id": purchase.user_id, "paid_asset": payment.paid_asset, "paid_amount": payment.paid_amount,
    })
    await enqueue_notification(conn, purchase.user_id, Notice.PAYMENT_FLAGGED, {"purchase_id": purchase.id},
                               key=f"flagged:{payment.provider}:{payment.ref}")
