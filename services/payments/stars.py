"""Telegram Stars. The bot owns the chat: it sends the invoice (or the subscription's invoice
link) and forwards pre_checkout_query, successful_payment and refunded_payment here. Settlement is
keyed by telegram_payment_charge_id; each renewal of a Stars subscription is a charge of its own.

aiogram confirms an update before its handler finishes, so a successful_payment can be lost in a
crash; reconciliation therefore also walks getStarTransactions (chronological, so a stored
offset resumes where the last pass stopped), settles any of our charges not yet recorded and takes
back what a refund met there bought (a chargeback the bot never heard of).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from common.contract.payments import PreCheckoutVerdict, PurchaseState, Settlement, StarsPaid, StarsPreCheckout
from common.contract.base import RpcErrorCode
from common.db.database import Database
from common.ipc.errors import RpcError
from services.payments import payload
from services.payments.matching import stars_mismatch
from services.payments.repositories import cursors, events, purchases
from services.payments.settlement import Overloaded, Payment, Settle, Source
from services.payments.stars_api import StarsApi

log = logging.getLogger(__name__)
CURSOR = "stars_transactions"
PAGE = 100
EXPIRED_MESSAGE = "This invoice has expired. Please start a new purchase."
INVALID_MESSAGE = "This invoice is no longer valid. Please start a new purchase."


# A refund met in getStarTransactions: (charge id, source, user id) -> what became of its purchase.
Chargeback = Callable[[str, str, "int | None"], Awaitable[PurchaseState]]
# Unix times outside this range are no expiration date anyone meant.
_EPOCH_RANGE = (0, 4_102_444_800)


def stars_payment(*, charge_id: str, source: Source, user_id: int | None, currency: str, total_amount: int,
                  invoice_payload: str, period_end: datetime | None = None) -> Payment:
    return Payment(
        provider="stars", ref=charge_id, source=source, purchase_hint=payload.decode(invoice_payload),
        mismatch=lambda p: stars_mismatch(p, user_id=user_id, currency=currency, total_amount=total_amount),
        paid_asset="XTR", paid_amount=None, period_end=period_end,
        detail={"user_id": user_id, "total_amount": total_amount, "currency": currency,
                "payload": invoice_payload[:128], "period_end": period_end},
    )


def unix_time(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int) or not _EPOCH_RANGE[0] < value < _EPOCH_RANGE[1]:
        return None
    return datetime.fromtimestamp(value, timezone.utc)


class Stars:
    def __init__(self, db: Database, settle: Settle, bot_api: StarsApi | None, expiry_grace: float,
                 chargeback: Chargeback) -> None:
        self.db = db
        self.settle = settle
        self.chargeback = chargeback
        self.bot_api = bot_api
        self.expiry_grace = expiry_grace
        self._scan = asyncio.Lock()

    async def pre_checkout(self, query: StarsPreCheckout) -> PreCheckoutVerdict:
        """Answered from two short reads on one connection: Telegram gives the bot 10 seconds for the whole round."""
        purchase_id = payload.decode(query.payload)
        if purchase_id is None:
            return PreCheckoutVerdict(ok=False, error_message=INVALID_MESSAGE)
        async with self.db.acquire() as conn:
            purchase = await purchases.get(conn, purchase_id)
            now = await purchases.db_now(conn)
        if purchase is None or purchase.method != "stars" or purchase.user_id != query.user_id:
            return PreCheckoutVerdict(ok=False, error_message=INVALID_MESSAGE)
        if stars_mismatch(purchase, user_id=query.user_id, currency=query.currency,
                          total_amount=query.total_amount) is not None:
            return PreCheckoutVerdict(ok=False, error_message=INVALID_MESSAGE)
        if purchase.status != "pending" or (purchase.expires_at is not None and purchase.expires_at <= now):
            return PreCheckoutVerdict(ok=False, error_message=EXPIRED_MESSAGE)
        return PreCheckoutVerdict(ok=True)

    async def paid(self, update: StarsPaid) -> Settlement:
        if not 1 <= len(update.telegram_payment_charge_id) <= 256 or "\x00" in update.telegram_payment_charge_id:
            return Settlement(purchase_id=None, status="unknown")
        try:
            outcome = await self.settle(stars_payment(
                charge_id=update.telegram_payment_charge_id, source="stars_update", user_id=update.user_id,
                currency=update.currency, total_amount=update.total_amount,
                invoice_payload=update.payload.replace("\x00", ""),
                period_end=unix_time(update.subscription_expiration_date) if update.is_recurring else None))
        except Overloaded:
            raise RpcError(RpcErrorCode.OVERLOADED, "settlement queue is full; retry") from None
        return Settlement(purchase_id=outcome.purchase_id, status=outcome.status)

    async def reconcile(self) -> dict[str, int]:
        stats = {"read": 0, "settled": 0, "expired": 0, "refunded": 0}
        if self.bot_api is not None:
            async with self._scan:  # one walk at a time; a manual check may ask for one too
                await self._walk(stats)
        async with self.db.acquire() as conn:
            stats["expired"] = await purchases.expire_stale_stars(conn, self.expiry_grace)
        if stats["settled"] or stats["expired"] or stats["refunded"]:
            log.info("stars reconciliation pass", extra=stats)
        return stats

    async def _walk(self, stats: dict[str, int]) -> None:
        assert self.bot_api is not None
        async with self.db.acquire() as conn:
            offset = await cursors.position(conn, CURSOR)
        while True:
            transactions = await self.bot_api.get_star_transactions(offset, PAGE)
            if not transactions:
                return
            payments = [p for p in map(_payment_of, transactions) if p is not None]
            known: set[str] = set()
            if payments:
                async with self.db.acquire() as conn:
                    known = await events.known_refs(conn, "stars", [p.ref for p in payments])
            # In the page's order: a payment is settled before its refund further on is taken back.
            for transaction in transactions:
                payment = _payment_of(transaction)
                if payment is not None and payment.ref not in known:
                    outcome = await self.settle(payment)
                    stats["settled"] += outcome.status == "settled"
                refunded = _refund_of(transaction)
                if refunded is not None:
                    state = await self.chargeback(refunded[0], "star_transactions", refunded[1])
                    stats["refunded"] += state.status == "refunded"
            stats["read"] += len(transactions)
            offset += len(transactions)
            # Advanced only after the page is settled: a crash re-reads it, and re-reading is harmless.
            async with self.db.acquire() as conn:
                await cursors.advance(conn, CURSOR, offset)
            if len(transactions) < PAGE:
                return


def _payment_of(transaction: dict[str, Any]) -> Payment | None:
    """Our incoming invoice payment in a StarTransaction, or None (refunds, other kinds, not ours)."""
    source = transaction.get("source")
    charge_id = transaction.get("id")
    amount = transaction.get("amount")
    if not isinstance(source, dict) or source.get("type") != "user":
        return None  # refunds carry `receiver` instead; withdrawals and ads have other partners
    if not isinstance(charge_id, str) or not 1 <= len(charge_id) <= 256 or "\x00" in charge_id:
        return None
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        return None
    invoice_payload = source.get("invoice_payload")
    if payload.decode(invoice_payload) is None:
        return None
    period = source.get("subscription_period")
    period_end = None
    if isinstance(period, int) and not isinstance(period, bool) and period > 0:
        paid_at = unix_time(transaction.get("date"))
        period_end = paid_at + timedelta(seconds=period) if paid_at else None
    return stars_payment(charge_id=charge_id, source="stars_reconcile", user_id=_user_id(source),
                         currency="XTR", total_amount=amount, invoice_payload=invoice_payload, period_end=period_end)


def _refund_of(transaction: dict[str, Any]) -> tuple[str, int | None] | None:
    """(charge id, user id) of a refund of one of our invoice payments, or None. Telegram lists a
    refund as a transaction whose `receiver` is the user, under the id of the payment it returns."""
    receiver = transaction.get("receiver")
    charge_id = transaction.get("id")
    if not isinstance(receiver, dict) or receiver.get("type") != "user":
        return None
    if receiver.get("transaction_type") not in (None, "invoice_payment"):
        return None
    if not isinstance(charge_id, str) or not 1 <= len(charge_id) <= 256 or "\x00" in charge_id:
        return None
    # Whether the charge is ours is for the purchases to say (Telegram may leave the payload out).
    return charge_id, _user_id(receiver)


def _user_id(partner: dict[str, Any]) -> int | None:
    user = partner.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    return user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else None
