"""Telegram Stars payments: invoices and invoice links (subscriptions too), pre-checkout answers,
subscription edits, refunds, the transaction ledger and the bot's balance."""

from __future__ import annotations

import time
from typing import Any

from .errors import bad_request
from .markup import validate_markup
from .methods_chat import TOO_OLD, chat_id_param
from .models import InvoiceLinkRecord, InvoiceRecord
from .params import Params
from .registry import ensure_can_send, method
from . import star_payments
from .state import World

MAX_PAYLOAD_BYTES = 128
SUBSCRIPTION_PERIOD = 2592000  # the only period Telegram allows: 30 days
MAX_SUBSCRIPTION_PRICE = 10000


def _stars_price(params: Params) -> int:
    prices = params.obj("prices", what="prices JSON array")
    if (
        not isinstance(prices, list)
        or len(prices) != 1
        or not isinstance(prices[0], dict)
        or not isinstance(prices[0].get("amount"), int)
        or prices[0]["amount"] <= 0
        or params.has("max_tip_amount")
        or params.has("suggested_tip_amounts")
    ):
        raise bad_request("STARS_INVOICE_INVALID")
    return prices[0]["amount"]


def _payload(params: Params) -> str:
    payload = params.string("payload", required=True) or ""
    if not 1 <= len(payload.encode("utf-8")) <= MAX_PAYLOAD_BYTES:
        raise bad_request("INVOICE_PAYLOAD_INVALID")
    return payload


def _stars_invoice(params: Params) -> tuple[str, str, str, str, int]:
    """What an invoice and an invoice link both carry: title, description, payload, currency, price."""
    title = params.string("title", required=True) or ""
    description = params.string("description", required=True) or ""
    payload = _payload(params)
    currency = params.string("currency", required=True) or ""
    # Only Stars exist here: any real currency needs a payment provider, and Stars must have none.
    if currency != "XTR" or params.string("provider_token"):
        raise bad_request("PAYMENT_PROVIDER_INVALID")
    return title, description, payload, currency, _stars_price(params)


@method("sendInvoice")
async def send_invoice(world: World, params: Params) -> Any:
    user = world.chat_for_bot(chat_id_param(params))
    title, description, payload, currency, amount = _stars_invoice(params)
    markup = validate_markup(params.obj("reply_markup", what="reply keyboard markup JSON object"), inline_only=True)
    if markup is None:
        markup = {"inline_keyboard": [[{"text": f"Pay ⭐️{amount}", "pay": True}]]}
    ensure_can_send(world, "sendInvoice", user)
    invoice = InvoiceRecord(
        title=title,
        description=description,
        payload=payload,
        currency=currency,
        total_amount=amount,
        start_parameter=params.string("start_parameter") or "",
    )
    message = world.add_message(user.id, from_bot=True, invoice=invoice, reply_markup=markup)
    return world.message_api(message)


@method("answerPreCheckoutQuery")
async def answer_pre_checkout_query(world: World, params: Params) -> Any:
    query_id = params.string("pre_checkout_query_id", required=True) or ""
    if "ok" not in params.values:
        raise bad_request("ok is empty")
    ok = params.flag("ok")
    error_message = params.string("error_message")
    if not ok and not error_message:
        raise bad_request("ERROR_MESSAGE_EMPTY")
    record = world.pre_checkouts.get(query_id)
    if (
        record is None
        or record.expired
        or record.ok is not None
        or time.monotonic() - record.created_mono > world.limits.pre_checkout_window
    ):
        raise bad_request(TOO_OLD)
    record.ok = ok
    record.error_message = None if ok else error_message
    world.wakeup.fire()
    return True


@method("createInvoiceLink")
async def create_invoice_link(world: World, params: Params) -> Any:
    title, description, payload, currency, amount = _stars_invoice(params)
    period = params.integer("subscription_period")
    if period is not None:
        if period != SUBSCRIPTION_PERIOD:
            raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
        if amount > MAX_SUBSCRIPTION_PRICE:
            raise bad_request("STARS_INVOICE_INVALID")
    link = InvoiceLinkRecord(
        slug=world.new_link_slug(),
        title=title,
        description=description,
        payload=payload,
        currency=currency,
        total_amount=amount,
        subscription_period=period,
    )
    world.invoice_links[link.slug] = link
    return link.url


@method("editUserStarSubscription")
async def edit_user_star_subscription(world: World, params: Params) -> Any:
    user_id = params.integer("user_id", required=True)
    charge_id = params.string("telegram_payment_charge_id", required=True) or ""
    if "is_canceled" not in params.values:
        raise bad_request("is_canceled is empty")
    canceled = params.flag("is_canceled")
    sub = world.subscription_of_charge(charge_id)
    if sub is None:
        raise bad_request("CHARGE_ID_INVALID")
    if sub.user_id != user_id:
        raise bad_request("USER_ID_INVALID")
    if sub.state != "active":
        raise bad_request("SUBSCRIPTION_EXPIRED")
    sub.canceled_by_bot = canceled
    world.touch(user_id)
    return True


@method("refundStarPayment")
async def refund_star_payment(world: World, params: Params) -> Any:
    user_id = params.integer("user_id", required=True)
    charge_id = params.string("telegram_payment_charge_id", required=True)
    payment = world.star_payment(charge_id or "")
    if payment is None:
        raise bad_request("CHARGE_NOT_FOUND")
    if payment.user_id != user_id:
        raise bad_request("USER_ID_INVALID")
    if world.is_refunded(payment.id):
        raise bad_request("CHARGE_ALREADY_REFUNDED")
    # The refund shows in the chat as a service message, which reaches the bot as an update.
    star_payments.refund(world, payment)
    return True


@method("getStarTransactions")
async def get_star_transactions(world: World, params: Params) -> Any:
    offset = max(params.integer("offset", default=0), 0)
    limit = min(max(params.integer("limit", default=100), 1), 100)
    # Chronological order, as the Bot API documents.
    chunk = world.transactions[offset : offset + limit]
    return {"transactions": [t.api(world.user(t.user_id).api()) for t in chunk]}
