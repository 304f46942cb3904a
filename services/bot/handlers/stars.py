"""Telegram Stars: the pre-checkout answer (within Telegram's 10 s), the successful payment (a
one-off, or a charge of a Stars subscription: the first or a renewal) and the refunded payment.

payments decides and settles; the bot only relays. When payments does not answer a pre-checkout
in time the payment is refused (nobody is charged); when it does not answer a settlement the user
is told it is being processed: the charge is on Telegram's record and payments' reconciliation
(getStarTransactions) settles it. A refunded_payment (a chargeback, or our own refund echoed) is
relayed the same way; reconciliation meets the refund in getStarTransactions if the relay fails.
"""
from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.types import Message, PreCheckoutQuery

from common.contract.payments import StarsPaid, StarsPreCheckout, StarsRefunded
from common.ipc import RpcError
from services.bot.followups import Followups
from services.bot.i18n import Translator
from services.bot.peers.shop import Peers, retry_until, transient

log = logging.getLogger(__name__)


def router() -> Router:
    r = Router(name="stars")
    r.pre_checkout_query.register(pre_checkout)
    r.message.register(paid, F.successful_payment)
    r.message.register(refunded, F.refunded_payment)
    return r


async def pre_checkout(query: PreCheckoutQuery, peers: Peers, t: Translator) -> None:
    request = StarsPreCheckout(user_id=query.from_user.id, payload=query.invoice_payload,
                               currency=query.currency, total_amount=query.total_amount)
    try:
        verdict = await peers.stars_pre_checkout(request)
    except RpcError as exc:
        log.warning("pre-checkout refused: payments did not answer", extra={"code": str(exc.code)})
        await query.answer(ok=False, error_message=t("stars.unavailable"))
        return
    if verdict.ok:
        await query.answer(ok=True)
    else:
        await query.answer(ok=False, error_message=(verdict.error_message or t("stars.declined"))[:255])


async def paid(message: Message, peers: Peers, followups: Followups, t: Translator) -> None:
    payment = message.successful_payment
    request = StarsPaid(user_id=message.chat.id, payload=payment.invoice_payload, currency=payment.currency,
                        total_amount=payment.total_amount,
                        telegram_payment_charge_id=payment.telegram_payment_charge_id,
                        provider_payment_charge_id=payment.provider_payment_charge_id or "",
                        is_recurring=bool(payment.is_recurring), is_first_recurring=bool(payment.is_first_recurring),
                        subscription_expiration_date=payment.subscription_expiration_date)
    try:
        settlement = await peers.stars_paid(request)
    except RpcError as exc:
        log.warning("stars settlement deferred", extra={"code": str(exc.code)})
        if transient(exc):
            # Keyed by the charge id on payments' side: sending it again is safe.
            followups.start(f"stars:{payment.telegram_payment_charge_id}", _settle_later(peers, request))
        await message.answer(t("stars.paid_later"))
        return
    if settlement.status in ("settled", "duplicate"):
        await message.answer(t("stars.paid"))
    else:
        await message.answer(t("stars.paid_later"))


async def _settle_later(peers: Peers, request: StarsPaid) -> None:
    try:
        await retry_until(lambda timeout: peers.stars_paid(request, timeout), total=60.0, attempt=2.0)
    except RpcError as exc:
        log.warning("stars settlement left to reconciliation", extra={"code": str(exc.code)})


async def refunded(message: Message, peers: Peers, followups: Followups) -> None:
    """Nothing is said here: payments tells the user what the refund took back (a notification)."""
    refund = message.refunded_payment
    request = StarsRefunded(user_id=message.chat.id, telegram_payment_charge_id=refund.telegram_payment_charge_id,
                            total_amount=refund.total_amount, payload=refund.invoice_payload or "")
    try:
        await peers.stars_refunded(request)
    except RpcError as exc:
        log.warning("stars refund deferred", extra={"code": str(exc.code)})
        if transient(exc):
            followups.start(f"refund:{refund.telegram_payment_charge_id}", _refund_later(peers, request))


async def _refund_later(peers: Peers, request: StarsRefunded) -> None:
    try:
        await retry_until(lambda timeout: peers.stars_refunded(request, timeout), total=60.0, attempt=2.0)
    except RpcError as exc:
        log.warning("stars refund left to reconciliation", extra={"code": str(exc.code)})
