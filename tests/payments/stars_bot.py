"""What the bot does around a Stars payment, reduced to its calls: send the invoice (or make the
subscription's invoice link), forward the pre_checkout_query to payments and answer it, forward
successful_payment and refunded_payment."""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import aiohttp
import orjson

from common.contract.payments import Invoice, PurchaseState, Settlement, StarsPaid, StarsPreCheckout, StarsRefunded
from sandbox.telegram import TelegramStandIn
from services.payments.app import Payments
from tests.support.wait import wait_for


async def bot_call(telegram: TelegramStandIn, method: str, params: dict[str, Any]) -> Any:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{telegram.url}/bot{telegram.token}/{method}", data=orjson.dumps(params),
                                headers={"Content-Type": "application/json"}) as response:
            answer = orjson.loads(await response.read())
    assert answer["ok"], answer
    return answer["result"]


async def send_invoice(telegram: TelegramStandIn, user_id: int, invoice: Invoice, amount: int | None = None) -> int:
    message = await bot_call(telegram, "sendInvoice", {
        "chat_id": user_id, "title": invoice.title, "description": invoice.description,
        "payload": invoice.stars_payload, "currency": "XTR",
        "prices": [{"label": invoice.title, "amount": amount or int(invoice.amount)}]})
    return message["message_id"]


def _take(telegram: TelegramStandIn, kind: str) -> dict | None:
    for update in list(telegram.world.updates):
        if kind in update and (kind != "message" or "successful_payment" in update["message"]):
            telegram.world.updates.remove(update)
            return update[kind]
    return None


async def _paid_after_pre_checkout(telegram: TelegramStandIn, app: Payments,
                                   paying: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """The user pays (`paying`: the stand-in's pay action); the bot forwards the pre_checkout_query
    to payments and answers it with payments' verdict, which the result carries."""
    task = asyncio.create_task(paying)
    query = await wait_for(lambda: _take(telegram, "pre_checkout_query"), timeout=5, message="pre_checkout_query")
    verdict = await app.stars.pre_checkout(StarsPreCheckout(
        user_id=query["from"]["id"], payload=query["invoice_payload"], currency=query["currency"],
        total_amount=query["total_amount"]))
    answer = {"pre_checkout_query_id": query["id"], "ok": verdict.ok}
    if not verdict.ok:
        answer["error_message"] = verdict.error_message
    await bot_call(telegram, "answerPreCheckoutQuery", answer)
    result = await asyncio.wait_for(task, 5)
    result["verdict"] = verdict
    return result


async def pay(telegram: TelegramStandIn, app: Payments, user_id: int, *, drop_update: bool = False,
              forward_paid: bool = True) -> dict[str, Any]:
    """The user pays the last invoice in their chat; the bot forwards both updates to payments."""
    result = await _paid_after_pre_checkout(telegram, app, telegram.pay_invoice(user_id, drop_update=drop_update))
    if result["status"] == "paid" and not drop_update and forward_paid:
        message = await wait_for(lambda: _take(telegram, "message"), timeout=5, message="successful_payment")
        result["settlement"] = await app.stars.paid(stars_paid(message))
    return result


def stars_paid(message: dict[str, Any]) -> StarsPaid:
    payment = message["successful_payment"]
    return StarsPaid(user_id=message["from"]["id"], payload=payment["invoice_payload"], currency=payment["currency"],
                     total_amount=payment["total_amount"],
                     telegram_payment_charge_id=payment["telegram_payment_charge_id"],
                     provider_payment_charge_id=payment.get("provider_payment_charge_id", ""),
                     is_recurring=payment.get("is_recurring", False),
                     is_first_recurring=payment.get("is_first_recurring", False),
                     subscription_expiration_date=payment.get("subscription_expiration_date"))


async def subscription_link(telegram: TelegramStandIn, invoice: Invoice) -> str:
    assert invoice.subscription_period == 2592000, invoice
    return await bot_call(telegram, "createInvoiceLink", {
        "title": invoice.title, "description": invoice.description, "payload": invoice.stars_payload,
        "currency": "XTR", "prices": [{"label": invoice.title, "amount": int(invoice.amount)}],
        "subscription_period": invoice.subscription_period})


async def subscribe(telegram: TelegramStandIn, app: Payments, user_id: int, url: str, *,
                    copies: int = 1) -> dict[str, Any]:
    """The user pays the subscription link; the bot answers the pre-checkout through payments and
    forwards every successful_payment update it receives (`copies` of them)."""
    result = await _paid_after_pre_checkout(telegram, app, telegram.pay_link(user_id, url, copies=copies))
    result["settlements"] = await forward_updates(telegram, app)
    return result


async def forward_updates(telegram: TelegramStandIn, app: Payments) -> list[Settlement | PurchaseState]:
    """Every payment update waiting for the bot, relayed to payments in order (as the bot's handlers do)."""
    outcomes: list[Settlement | PurchaseState] = []
    for update in list(telegram.world.updates):
        message = update.get("message") or {}
        if "successful_payment" in message:
            outcomes.append(await app.stars.paid(stars_paid(message)))
        elif "refunded_payment" in message:
            refund = message["refunded_payment"]
            outcomes.append(await app.refunds.stars_refunded(StarsRefunded(
                user_id=message["from"]["id"], telegram_payment_charge_id=refund["telegram_payment_charge_id"],
                total_amount=refund["total_amount"], payload=refund.get("invoice_payload", ""))))
        else:
            continue
        telegram.world.updates.remove(update)
    return outcomes
