"""Refunds: the money goes back and the access it bought is taken back, once.

Two ways in. An admin refunds from the console (`refund`): Stars through refundStarPayment;
Crypto Pay has no refund of a paid invoice, so a Crypto Bot plan or traffic package is refunded to
the user's balance (a ledger row), and a Crypto Bot top-up is taken back from the balance (the
admin returns the coins outside; refused if the balance was spent). A gift, however it was paid,
is refunded to its giver's balance (Stars at its plan's price per Star), only while nobody has
redeemed it, and its link is dead from then on. The provider call comes first: if we crash after
it, the admin's retry meets CHARGE_ALREADY_REFUNDED, which counts as done, and the database part
completes. Or Telegram tells us a Stars payment went back to the user (`chargeback`: a
refunded_payment update relayed by the bot, or a refund met in getStarTransactions): the money
is gone already, so nothing is refused; what it bought is taken back all the same.

Either way one method (`Refunds.take_back`) does the database part in one transaction: the purchase
moves paid -> refunded (compare-and-set: the second report of a refund changes nothing), exactly
the days (or a package's bytes) that purchase bought come off the subscription (the key is
disabled through vpn_gateway's outbox only when nothing is left), the refund is written to
payment_refunds (and the balance ledger, where money goes to the balance), the user is told, and
an admin's refund goes to the audit log.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Literal

import asyncpg

from common.contract.base import RpcErrorCode
from common.contract.outbox import Activation, Notice
from common.contract.payments import PurchaseRef, PurchaseState, StarsRefunded
from common.db.database import Database
from common.ipc.errors import RpcError
from common.ipc.nudges import PeerNudges
from common.shop.outbox import enqueue_activation, enqueue_admin_alert, enqueue_notification
from common.shop import ledger
from common.telegram.bot_api import BotApiError
from services.payments.purchase_ref import named_purchase
from services.payments.repositories import events, gifts, purchases, refunds, renewal_cancels, shop
from services.payments.repositories.purchases import Purchase
from services.payments.stars_api import StarsApi

log = logging.getLogger(__name__)

RefundSource = Literal["admin", "refunded_payment", "star_transactions"]
MAX_CHARGE_ID = 256


class Refunds:
    def __init__(self, db: Database, bot_api: StarsApi | None, nudger: PeerNudges, currency: str,
                 renewal_cancels: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.currency = currency       # of the balance: a Stars gift is refunded into it
        self.bot_api = bot_api
        self.nudger = nudger
        self.renewal_cancels = renewal_cancels   # nudges the worker of star_renewal_cancels

    async def refund(self, ref: PurchaseRef) -> PurchaseState:
        purchase = await named_purchase(self.db, ref)
        if purchase.status == "refunded":
            if ref.admin_id is not None:
                # Telegram's refunded_payment (or reconciliation) may have done the database part
                # between our refundStarPayment and here: the admin still did the refund.
                async with self.db.transaction() as conn:
                    await _audit(conn, ref.admin_id, purchase)
            return PurchaseState(purchase_id=purchase.id, status="refunded")
        if purchase.status != "paid":
            raise RpcError(RpcErrorCode.CONFLICT, f"purchase {purchase.id} is {purchase.status}, not paid")
        if purchase.method not in ("stars", "cryptobot"):
            raise RpcError(RpcErrorCode.BAD_REQUEST, f"{purchase.method} purchases are not refunded here")
        if purchase.kind == "change":
            # Its money became days of the new plan (or went to the balance already): undone by another change.
            raise RpcError(RpcErrorCode.BAD_REQUEST, "a plan change is not refunded; change the plan again instead")
        if purchase.kind == "gift":
            # The link stops working before any money moves: a gift is refunded or redeemed, never both.
            async with self.db.transaction() as conn:
                gift_state = await gifts.withdraw(conn, purchase.id)
            if gift_state == "redeemed":
                raise RpcError(RpcErrorCode.CONFLICT, f"the gift of purchase {purchase.id} has been redeemed")
        if purchase.method == "stars" and purchase.kind != "gift":
            await self._refund_stars(purchase)

        async with self.db.transaction() as conn:
            status = await self.take_back(conn, ref.purchase_id, source="admin", admin_id=ref.admin_id)
        self._nudge(purchase)
        return PurchaseState(purchase_id=ref.purchase_id, status=status)

    async def stars_refunded(self, update: StarsRefunded) -> PurchaseState:
        """The bot relays a refunded_payment: Telegram gave a Stars payment back to the user."""
        return await self.chargeback(update.telegram_payment_charge_id, "refunded_payment", update.user_id)

    async def chargeback(self, charge_id: str, source: RefundSource, user_id: int | None) -> PurchaseState:
        if not 1 <= len(charge_id) <= MAX_CHARGE_ID or "\x00" in charge_id:
            return PurchaseState(purchase_id=0, status="unknown")
        async with self.db.transaction() as conn:
            purchase = await purchases.by_charge(conn, charge_id)
            if purchase is None or (user_id is not None and purchase.user_id != user_id):
                # Never credited here (a flagged or unknown payment, or one not settled yet: the
                # getStarTransactions walk meets the payment before its refund and settles it first).
                seen = await events.purchase_of(conn, "stars", charge_id)
                if seen is not None or purchase is not None:
                    await enqueue_admin_alert(conn, "payment_chargeback", f"Stars charge {charge_id} went back",
                                              {"source": source, "purchase_id": seen, "user_id": user_id,
                                               "action": "it was never credited: nothing to take back"})
                return PurchaseState(purchase_id=seen or 0, status="unknown")
            status = await self.take_back(conn, purchase.id, source=source)
        if status == "refunded":
            self._nudge(purchase)
        return PurchaseState(purchase_id=purchase.id, status=status)

    def _nudge(self, purchase: Purchase) -> None:
        self.nudger.nudge("vpn_gateway", "bot")
        if purchase.recurring:
            self.renewal_cancels()

    async def _refund_stars(self, purchase: Purchase) -> None:
        if self.bot_api is None:
            raise RpcError(RpcErrorCode.UNAVAILABLE, "the Bot API is not configured")
        if not purchase.provider_charge_id:
            raise RpcError(RpcErrorCode.CONFLICT, f"purchase {purchase.id} has no Stars charge")
        try:
            await self.bot_api.refund_star_payment(purchase.user_id, purchase.provider_charge_id)
        except BotApiError as exc:
            if exc.transient:
                raise RpcError(RpcErrorCode.UNAVAILABLE, "Telegram is not answering; try again") from None
            if "CHARGE_ALREADY_REFUNDED" not in exc.description:
                log.warning("refundStarPayment refused", extra={"purchase_id": purchase.id, "error": exc.description})
                raise RpcError(RpcErrorCode.CONFLICT, f"Telegram refused the refund: {exc.description}") from None

    async def take_back(self, conn: asyncpg.Connection, purchase_id: int, *, source: RefundSource,
                        admin_id: int | None = None) -> str:
        """The database part of a refund, in the caller's transaction (see the module docstring).
        Returns the purchase's status afterwards: 'refunded', or what it is when it was never paid.
        A Stars gift refunded to the balance goes in at its worth in the shop's currency."""
        purchase = await purchases.lock(conn, purchase_id)
        assert purchase is not None
        if purchase.status == "refunded":
            if admin_id is not None:
                await _audit(conn, admin_id, purchase)
            return "refunded"  # a concurrent refund of the same purchase won
        if not await purchases.mark_refunded(conn, purchase.id):
            if source == "admin":
                raise RpcError(RpcErrorCode.CONFLICT, f"purchase {purchase.id} is {purchase.status}, not paid")
            return purchase.status
        key = f"refund:{purchase.id}"
        days_taken, revoked, expires_at = 0, False, None
        if purchase.kind == "subscription" and purchase.days:
            taken = await shop.take_back_days(conn, purchase.user_id, purchase.days)
            if taken is not None:
                expires_at, revoked = taken
                days_taken = purchase.days
                action = Activation.REVOKE if revoked else Activation.EXTEND
                await enqueue_activation(conn, purchase.user_id, action, key,
                                         {"reason": "refund", "purchase_id": purchase.id})
        elif purchase.kind == "traffic" and purchase.traffic_limit_bytes:
            if await shop.take_back_traffic(conn, purchase.user_id, purchase.traffic_limit_bytes):
                await enqueue_activation(conn, purchase.user_id, Activation.SET_LIMIT, key,
                                         {"reason": "refund", "purchase_id": purchase.id})
        elif purchase.kind == "gift" and source != "admin":
            # The admin path withdrew the link before refunding; a chargeback can only try now.
            if await gifts.withdraw(conn, purchase.id) == "redeemed":
                await enqueue_admin_alert(conn, "payment_chargeback", f"purchase {purchase.id}",
                                          {"source": source, "action": "a redeemed gift was charged back"})
        elif purchase.kind == "change" and source != "admin":
            await enqueue_admin_alert(conn, "payment_chargeback", f"purchase {purchase.id}",
                                      {"source": source, "action": "a plan change was charged back; check the plan"})
        # A charge of a Stars subscription: Telegram would go on renewing it (see renewal_cancels.py).
        renewal_canceled = purchase.recurring and await renewal_cancels.queue(
            conn, purchase.renewal_of or purchase.id, purchase.id)
        amount, currency = purchase.amount, purchase.currency
        to_balance = purchase.method == "cryptobot" or (purchase.kind == "gift" and source == "admin")
        if purchase.kind == "gift" and purchase.method == "stars" and to_balance:
            # The giver is refunded to the balance, as for a Crypto Bot gift: what the Stars were worth.
            amount, currency = await shop.stars_value(conn, purchase.plan_id, purchase.amount), self.currency
        if to_balance:
            # Plan, package or gift: what was paid goes to the balance. Top-up: the top-up leaves the balance.
            signed = -amount if purchase.kind == "topup" else amount
            try:
                if signed != 0:
                    await ledger.apply(conn, purchase.user_id, signed, "refund", f"purchase:{purchase.id}")
            except ledger.InsufficientBalance as exc:
                raise RpcError(RpcErrorCode.CONFLICT,
                               f"the balance ({exc.balance}) no longer holds this top-up") from None
        provider_ref = purchase.provider_charge_id if purchase.method == "stars" else purchase.provider_invoice_id
        if not await refunds.record(conn, purchase_id=purchase.id, user_id=purchase.user_id, provider=purchase.method,
                                    provider_ref=provider_ref, source=source, admin_id=admin_id, amount=purchase.amount,
                                    currency=purchase.currency, days_taken=days_taken, revoked=revoked):
            raise RuntimeError(f"purchase {purchase.id} was refunded twice under its lock")
        await enqueue_notification(conn, purchase.user_id, Notice.REFUNDED, {
            "amount": amount, "currency": currency, "days": days_taken,
            "expires_at": expires_at, "revoked": revoked, "renewal_canceled": renewal_canceled,
        }, key=key)
        if admin_id is not None:
            await _audit(conn, admin_id, purchase, to="balance" if to_balance else purchase.method,
                         amount=amount, currency=currency)
        elif source != "admin":
            await enqueue_admin_alert(conn, "payment_chargeback", f"purchase {purchase.id} was charged back", {
                "source": source, "user_id": purchase.user_id, "amount": purchase.amount, "currency": purchase.currency,
                "days_taken": days_taken, "revoked": revoked, "renewal_canceled": renewal_canceled})
        log.info("purchase refunded", extra={"purchase_id": purchase.id, "source": source, "days_taken": days_taken,
                                             "revoked": revoked, "renewal_canceled": renewal_canceled})
        return "refunded"


async def _audit(conn: asyncpg.Connection, admin_id: int, purchase: Purchase, to: str | None = None,
                 amount: Decimal | None = None, currency: str | None = None) -> None:
    """`amount`/`currency`: what the refund gave back, when it differs from what was paid (a Stars
    gift goes to the balance at its plan's price per Star)."""
    await shop.audit(conn, admin_id, "refund", f"purchase:{purchase.id}", {
        "method": purchase.method, "amount": amount if amount is not None else purchase.amount,
        "currency": currency or purchase.currency,
        "kind": purchase.kind, "to": to or ("balance" if purchase.method == "cryptobot" or purchase.kind == "gift"
                                             else purchase.method),
        "user_id": purchase.user_id, "charge": purchase.provider_charge_id or purchase.provider_invoice_id})
