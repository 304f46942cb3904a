"""The service messages of a Stars payment, built once for every way one happens: an invoice paid,
an invoice link paid (a subscription's first charge), a renewal on the stand-in's clock, a refund
by the bot (refundStarPayment) or a chargeback by the user.

A refund gives the Stars back and nothing more: like Telegram, whose Bot API documents no cancel
on refund, the stand-in keeps renewing a subscription whose charge was refunded until the bot
cancels it (editUserStarSubscription)."""

from __future__ import annotations

from typing import Any

from .models import MessageRecord, StarTransactionRecord
from .state import World


def successful_payment(currency: str, amount: int, payload: str, charge_id: str, **recurring: Any) -> dict[str, Any]:
    """Bot API SuccessfulPayment; `recurring`: a subscription's subscription_expiration_date,
    is_recurring and is_first_recurring."""
    return {
        "currency": currency,
        "total_amount": amount,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": f"stars_{charge_id}",
        **recurring,
    }


def refund(world: World, payment: StarTransactionRecord, *, tell_bot: bool = True) -> MessageRecord:
    """Gives a payment's Stars back: a refund in getStarTransactions and a refunded_payment service
    message in the chat, which reaches the bot as an update unless `tell_bot` is False (a
    chargeback the bot never hears of)."""
    world.record_star_transaction(payment.user_id, payment.amount, payment.payload, payment.id, refund=True)
    refunded = {
        "currency": "XTR",
        "total_amount": payment.amount,
        "invoice_payload": payment.payload,
        "telegram_payment_charge_id": payment.id,
    }
    message = world.add_message(payment.user_id, from_bot=False, refunded_payment=refunded)
    if tell_bot:
        world.enqueue("message", world.message_api(message))
    else:
        message.update_dropped = True
    return message
