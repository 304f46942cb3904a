"""An admin's refund: the money goes back and the access it bought is taken back, once.

Stars: refundStarPayment returns the Stars, then the purchase's days (or a traffic package's
bytes) are taken off the subscription (revoked if nothing is left). Crypto Pay has no refund of a
paid invoice, so a Crypto Bot plan or package is refunded to the user's balance (a ledger row), and
a Crypto Bot top-up is taken back from the balance (the admin returns the coins outside; refused if
the balance was spent). A gift, however it was paid, is refunded to its giver's balance (Stars at
its plan's price per Star), only while nobody has redeemed it, and its link is dead from then on.
The provider call comes first: if we crash after it, the admin's retry meets
CHARGE_ALREADY_REFUNDED, which counts as done, and the database part completes.
"""
from __future__ import annotations

import logging

import asyncpg

from common.contract.base import RpcErrorCode
from common.contract.outbox import Activation, Notice
from common.contract.payments import PurchaseRef, PurchaseState
from common.db.database import Database
from common.ipc.errors import RpcError
from common.ipc.nudges import PeerNudges
from common.shop.outbox import enqueue_activation, enqueue_notification
from common.shop import ledger
from common.telegram.bot_api import BotApiError
from services.payments.purchase_ref import named_purchase
from services.payments.repositories import gifts, purchases, shop
from services.payments.repositories.purchases import Purchase
from services.payments.stars_api import StarsApi

log = logging.getLogger(__name__)


class Refunds:
    def __init__(self, db: Database, bot_api: StarsApi | None, nudger: PeerNudges, currency: str) -> None:
        self.db = db
        self.currency = currency       # of the balance: a Stars gift is refunded into it
        self.bot_api = bot_api
        self.nudger = nudger

    async def refund(self, ref: PurchaseRef) -> PurchaseState:
        purchase = await named_purchase(self.db, ref)
        if purchase.status == "refunded":
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
            status = await self._take_back(conn, ref)
        self.nudger.nudge("vpn_gateway", "bot")
        return PurchaseState(purchase_id=ref.purchase_id, status=status)

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

    async def _take_back(self, conn: asyncpg.Connection, ref: PurchaseRef) -> str:
        purchase = await purchases.lock(conn, ref.purchase_id)
        assert purchase is not None
        if purchase.status == "refunded":
            return "refunded"  # a concurrent refund of the same purchase won
        if not await purchases.mark_refunded(conn, purchase.id):
            raise RpcError(RpcErrorCode.CONFLICT, f"purchase {purchase.id} is {purchase.status}, not paid")
        key = f"refund:{purchase.id}"
        if purchase.kind == "subscription" and purchase.days:
            taken = await shop.take_back_days(conn, purchase.user_id, purchase.days)
            if taken is not None:
                action = Activation.REVOKE if taken[1] else Activation.EXTEND
                await enqueue_activation(conn, purchase.user_id, action, key,
                                         {"reason": "refund", "purchase_id": purchase.id})
        if purchase.kind == "traffic" and purchase.traffic_limit_bytes:
            if await shop.take_back_traffic(conn, purchase.user_id, purchase.traffic_limit_bytes):
                await enqueue_activation(conn, purchase.user_id, Activation.SET_LIMIT, key,
                                         {"reason": "refund", "purchase_id": purchase.id})
        amount, currency = purchase.amount, purchase.currency
        if purchase.kind == "gift" and purchase.method == "stars":
            # The giver is refunded to the balance, as for a Crypto Bot gift: what the Stars were worth.
            amount, currency = await shop.stars_value(conn, purchase.plan_id, purchase.amount), self.currency
        if purchase.method == "cryptobot" or purchase.kind == "gift":
            # Plan, package or gift: what was paid goes to the balance. Top-up: the top-up leaves the balance.
            signed = -amount if purchase.kind == "topup" else amount
            try:
                if signed != 0:
                    await ledger.apply(conn, purchase.user_id, signed, "refund", f"purchase:{purchase.id}")
            except ledger.InsufficientBalance as exc:
                raise RpcError(RpcErrorCode.CONFLICT,
                               f"the balance ({exc.balance}) no longer holds this top-up") from None
        await enqueue_notification(conn, purchase.user_id, Notice.REFUNDED,
                                   {"amount": amount, "currency": currency}, key=key)
        if ref.admin_id is not None:
            await shop.audit(conn, ref.admin_id, "refund", f"purchase:{purchase.id}",
                             {"method": purchase.method, "amount": amount, "currency": currency,
                              "kind": purchase.kind,
                              "to": "balance" if purchase.method == "cryptobot" or purchase.kind == "gift"
                              else purchase.method})
        return "refunded"
