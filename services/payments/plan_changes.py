"""Plan changes (issue 12.4): the value left on the current plan becomes days of the new one
(common/shop/proration.py); what it does not cover is paid from the balance, and what the balance
lacks by a Crypto Bot invoice, whose settlement completes the change.

Exactly once: the subscription row is locked first, then the request looked up, so a second tap
of the same confirmation waits and gets the first one's answer, and a second confirmation (another
screen) finds the plan already changed. The change, its balance debit (a ledger row keyed by the
change), the subscription, its activation row and the notice commit together.

An invoice paid after the subscription changed otherwise (another change, a refund, it ended)
cannot complete its change: what it paid goes to the balance, never lost and never a second change.
"""
from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

import asyncpg

from services.payments.settings import CryptoPaySettings, PaymentsSettings
from common.contract.base import RpcErrorCode
from common.contract.outbox import Activation, Notice
from common.contract.payments import CHANGE_REFUSED, PlanChange, PlanChanged
from common.db.database import Database
from common.ipc.errors import RpcError
from common.ipc.nudges import PeerNudges
from common.shop import ledger, proration
from common.shop.outbox import enqueue_activation, enqueue_notification
from common.shop.proration import Quote
from services.payments.invoices import Invoicing
from services.payments.repositories import plan_changes, purchases
from services.payments.request_checks import allowed_customer, check_request
from services.payments.repositories.purchases import Purchase

log = logging.getLogger(__name__)
GB = 1024 ** 3


def refused(refusal: proration.Refusal) -> RpcError:
    return RpcError(RpcErrorCode.CONFLICT, CHANGE_REFUSED + refusal.value)


class PlanChanges:
    def __init__(self, db: Database, invoicing: Invoicing, nudger: PeerNudges, cryptopay: CryptoPaySettings,
                 settings: PaymentsSettings) -> None:
        self.db = db
        self.invoicing = invoicing
        self.nudger = nudger
        self.cp = cryptopay
        self.settings = settings

    async def change(self, request: PlanChange) -> PlanChanged:
        try:
            return await self._change(request)
        except ledger.InsufficientBalance:
            # The balance was spent between the quote and its debit (an auto-renewal, say): nothing changed.
            raise RpcError(RpcErrorCode.CONFLICT, "the balance changed meanwhile; try again") from None

    async def _change(self, request: PlanChange) -> PlanChanged:
        check_request(request.user_id, request.request_id, plan_id=request.plan_id)
        async with self.db.transaction() as conn:
            await allowed_customer(conn, request.user_id)
            if not await plan_changes.lock_subscription(conn, request.user_id):
                raise refused(proration.Refusal.NO_PAID_PLAN)
            earlier = await plan_changes.by_request(conn, request.user_id, request.request_id)
            if earlier is not None:
                return await self._again(conn, earlier)
            quote = await proration.quote_for(conn, request.user_id, request.plan_id)
            if isinstance(quote, proration.Refusal):
                raise refused(quote)
            if quote.invoice > 0 and self.invoicing.cryptopay is None:
                raise RpcError(RpcErrorCode.UNAVAILABLE, "Crypto Bot payments are not configured")
            if quote.invoice == 0:
                change_id = await plan_changes.insert(
                    conn, user_id=quote.user_id, request_id=request.request_id, from_plan_id=quote.from_plan_id,
                    to_plan_id=quote.plan.id, value_left=quote.left.value)
                expires_at = await _complete(conn, change_id, quote, paid=Decimal(0), notify=False)
                done = PlanChanged(state="done", change_id=change_id, plan_code=quote.plan.code,
                                   days=quote.conversion.days, expires_at=expires_at,
                                   from_balance=quote.from_balance, currency=self.cp.shop_currency)
            else:
                purchase = await purchases.insert_pending(
                    conn, user_id=quote.user_id, plan_id=quote.plan.id, kind="change", method="cryptobot",
                    amount=quote.invoice, currency=self.cp.shop_currency, request_id=request.request_id,
                    days=quote.conversion.days, traffic_limit_bytes=_traffic(quote),
                    ttl_seconds=self.cp.cryptopay_invoice_ttl)
                if purchase is None:
                    raise RpcError(RpcErrorCode.CONFLICT, "request_id was already used for a different purchase")
                change_id = await plan_changes.insert(
                    conn, user_id=quote.user_id, request_id=request.request_id, from_plan_id=quote.from_plan_id,
                    to_plan_id=quote.plan.id, value_left=quote.left.value, purchase_id=purchase.id,
                    days=quote.conversion.days)
                done = None
        if done is not None:
            self.nudger.nudge("vpn_gateway", "bot")
            return done
        issued = await self.invoicing.issue(purchase, _description(quote))
        return PlanChanged(state="invoice", change_id=change_id, plan_code=quote.plan.code,
                           days=quote.conversion.days, from_balance=quote.from_balance,
                           invoice_amount=issued.amount, currency=issued.currency, invoice_url=issued.invoice_url)

    async def _again(self, conn: asyncpg.Connection, earlier: plan_changes.Change) -> PlanChanged:
        """The answer to a request seen before (a double tap, a retry after a timeout)."""
        code = await conn.fetchval("SELECT code FROM plans WHERE id = $1", earlier.to_plan_id)
        if earlier.state == "done":
            expires_at = await conn.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1",
                                             earlier.user_id)
            return PlanChanged(state="done", change_id=earlier.id, plan_code=code, days=earlier.days or 0,
                               expires_at=expires_at, currency=self.cp.shop_currency)
        purchase = await purchases.get(conn, earlier.purchase_id) if earlier.purchase_id else None
        if earlier.state != "awaiting_payment" or purchase is None or purchase.status not in ("pending", "failed"):
            raise RpcError(RpcErrorCode.CONFLICT, f"plan change {earlier.id} is {earlier.state}; start again")
        # Still waiting for its invoice: the same one (made now, if it could not be made before).
        issued = await self.invoicing.issue(purchase, f"VPN plan change to {code}")
        return PlanChanged(state="invoice", change_id=earlier.id, plan_code=code, days=earlier.days or 0,
                           invoice_amount=issued.amount, currency=issued.currency, invoice_url=issued.invoice_url)


def _traffic(quote: Quote) -> int:
    return quote.plan.traffic_gb * GB if quote.plan.traffic_gb else 0


def _description(quote: Quote) -> str:
    return (f"VPN plan change {quote.from_plan_code} -> {quote.plan.code}: {quote.plan.price} less "
            f"{quote.left.value} left and {quote.from_balance} from the balance")


async def _complete(conn: asyncpg.Connection, change_id: int, quote: Quote, *, paid: Decimal,
                    notify: bool = True) -> datetime:
    """Applies a quoted change in the caller's transaction: the balance debit, the subscription,
    the activation and (for a change completed by its invoice's settlement) the notice; a change
    done at once is told on the screen that confirmed it. `paid`: what an invoice brought towards it."""
    conversion = proration.convert(quote.left.value + paid, quote.plan)
    if conversion.charge > 0:
        if await ledger.apply(conn, quote.user_id, -conversion.charge, "purchase", f"change:{change_id}") is None:
            raise RuntimeError(f"plan change {change_id} was debited before it was done")
    await plan_changes.mark_done(conn, change_id, value_left=quote.left.value, from_balance=conversion.charge,
                                 paid=paid, days=conversion.days, free_seconds=quote.free_seconds)
    expires_at = await plan_changes.switch(conn, quote.user_id, plan_id=quote.plan.id, days=conversion.days,
                                           free_seconds=quote.free_seconds, traffic_limit_bytes=_traffic(quote))
    key = f"change:{change_id}"
    await enqueue_activation(conn, quote.user_id, Activation.EXTEND, key,
                             {"reason": "plan_change", "days": conversion.days})
    if notify:
        await enqueue_notification(conn, quote.user_id, Notice.PLAN_CHANGED,
                                   {"plan_code": quote.plan.code, "expires_at": expires_at}, key=key)
    return expires_at


async def complete_paid(conn: asyncpg.Connection, purchase: Purchase) -> None:
    """The settlement of a change's invoice (inside it): the change, as of now, with what was paid
    towards it; or, when the subscription no longer allows it, what was paid to the balance."""
    change = await plan_changes.lock_of_purchase(conn, purchase.id)
    if change is None or change.state != "awaiting_payment":
        raise RuntimeError(f"change purchase {purchase.id} has no change waiting for it")
    await plan_changes.lock_subscription(conn, purchase.user_id)
    quote = await proration.quote_for(conn, purchase.user_id, change.to_plan_id)
    if not isinstance(quote, proration.Refusal) and \
            proration.convert(quote.left.value + purchase.amount, quote.plan).charge <= quote.balance:
        await _complete(conn, change.id, quote, paid=purchase.amount)
        return
    log.info("a paid plan change could not be done; its payment goes to the balance",
             extra={"purchase_id": purchase.id, "reason": str(quote) if isinstance(quote, str) else "balance"})
    await plan_changes.mark_failed(conn, change.id)
    await ledger.apply(conn, purchase.user_id, purchase.amount, "refund", f"change:{change.id}")
    await enqueue_notification(conn, purchase.user_id, Notice.PLAN_CHANGE_FAILED,
                               {"amount": purchase.amount, "currency": purchase.currency},
                               key=f"change_failed:{change.id}")
