"""Telegram Stars through the stand-in: invoice, pre-checkout, successful_payment, ledger, refund."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import LabeledPrice

from sandbox.telegram import ControlError, TelegramStandIn
from tests.support.telegram_bot import next_update

USER = 2002


async def send_invoice(bot: Bot, chat_id: int = USER, amount: int = 150, payload: str = "order:7"):
    return await bot.send_invoice(
        chat_id, title="Month", description="30 days of VPN", payload=payload, currency="XTR",
        prices=[LabeledPrice(label="30 days", amount=amount)],
    )


async def test_invoice_paid_end_to_end(bot, standin):
    invoice = await send_invoice(bot)
    assert (invoice.invoice.currency, invoice.invoice.total_amount, invoice.invoice.title) == ("XTR", 150, "Month")
    assert invoice.reply_markup.inline_keyboard[0][0].pay is True  # Telegram adds the Pay button

    paying = asyncio.create_task(standin.pay_invoice(USER))
    query = (await next_update(bot, "pre_checkout_query")).pre_checkout_query
    assert (query.from_user.id, query.currency, query.total_amount, query.invoice_payload) == (USER, "XTR", 150, "order:7")
    assert await bot.answer_pre_checkout_query(query.id, ok=True) is True

    result = await asyncio.wait_for(paying, 5)
    assert result["status"] == "paid" and result["charge_id"]
    payment = (await next_update(bot, "message")).message.successful_payment
    assert payment.telegram_payment_charge_id == result["charge_id"]
    assert (payment.currency, payment.total_amount, payment.invoice_payload) == ("XTR", 150, "order:7")
    assert payment.provider_payment_charge_id

    [tx] = (await bot.get_star_transactions()).transactions
    assert (tx.id, tx.amount, tx.source.user.id, tx.source.invoice_payload) == (result["charge_id"], 150, USER, "order:7")
    assert tx.source.type == "user" and tx.receiver is None

    entry = (await standin.transcript(USER))[0]
    assert entry["invoice"]["paid_charge_id"] == result["charge_id"]
    with pytest.raises(ControlError, match="already paid"):
        await standin.pay_invoice(USER)


async def test_only_stars_invoices_are_accepted(bot):
    with pytest.raises(TelegramBadRequest, match="PAYMENT_PROVIDER_INVALID"):
        await bot.send_invoice(USER, title="t", description="d", payload="p", currency="USD",
                               prices=[LabeledPrice(label="x", amount=100)])
    with pytest.raises(TelegramBadRequest, match="PAYMENT_PROVIDER_INVALID"):
        await bot.send_invoice(USER, title="t", description="d", payload="p", currency="XTR", provider_token="tok",
                               prices=[LabeledPrice(label="x", amount=100)])
    with pytest.raises(TelegramBadRequest, match="STARS_INVOICE_INVALID"):
        await bot.send_invoice(USER, title="t", description="d", payload="p", currency="XTR",
                               prices=[LabeledPrice(label="x", amount=100), LabeledPrice(label="y", amount=1)])


async def test_declined_pre_checkout_pays_nothing(bot, standin):
    await send_invoice(bot)
    paying = asyncio.create_task(standin.pay_invoice(USER))
    query = (await next_update(bot, "pre_checkout_query")).pre_checkout_query
    await bot.answer_pre_checkout_query(query.id, ok=False, error_message="Plan sold out")
    result = await asyncio.wait_for(paying, 5)
    assert (result["status"], result["error_message"], result["charge_id"]) == ("declined", "Plan sold out", None)
    assert (await bot.get_star_transactions()).transactions == []
    assert await bot.get_updates() == []


async def test_unanswered_pre_checkout_times_out_and_a_late_answer_is_refused(bot, standin):
    await send_invoice(bot)
    result = await standin.pay_invoice(USER, timeout=0.2)
    assert result["status"] == "timeout"
    query = (await next_update(bot, "pre_checkout_query")).pre_checkout_query
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_pre_checkout_query(query.id, ok=True)
    assert (await bot.get_star_transactions()).transactions == []


async def test_dropped_update_still_records_the_transaction(bot, standin):
    await send_invoice(bot)
    paying = asyncio.create_task(standin.pay_invoice(USER, drop_update=True))
    query = (await next_update(bot, "pre_checkout_query")).pre_checkout_query
    await bot.answer_pre_checkout_query(query.id, ok=True)
    result = await asyncio.wait_for(paying, 5)
    assert result["status"] == "paid"
    assert await bot.get_updates() == []  # the successful_payment never reaches the bot...
    [tx] = (await bot.get_star_transactions()).transactions  # ...but reconciliation can find it
    assert tx.id == result["charge_id"]
    assert (await standin.transcript(USER))[-1]["update_dropped"] is True


async def pay(bot: Bot, standin: TelegramStandIn, user: int) -> str:
    paying = asyncio.create_task(standin.pay_invoice(user))
    query = (await next_update(bot, "pre_checkout_query")).pre_checkout_query
    await bot.answer_pre_checkout_query(query.id, ok=True)
    result = await asyncio.wait_for(paying, 5)
    await next_update(bot, "message")
    return result["charge_id"]


async def test_refund_once_and_the_ledger_shows_it(bot, standin):
    await send_invoice(bot)
    charge = await pay(bot, standin, USER)
    with pytest.raises(TelegramBadRequest, match="USER_ID_INVALID"):
        await bot.refund_star_payment(USER + 1, charge)
    assert await bot.refund_star_payment(USER, charge) is True
    refunded = (await next_update(bot, "message")).message.refunded_payment
    assert (refunded.telegram_payment_charge_id, refunded.total_amount) == (charge, 150)
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(USER, charge)
    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(USER, "no-such-charge")
    payment, refund = (await bot.get_star_transactions()).transactions
    assert payment.id == refund.id == charge
    assert payment.source is not None and refund.receiver.user.id == USER and refund.source is None


async def test_star_transactions_page_in_chronological_order(bot, standin):
    charges = []
    for user in (USER, USER + 1, USER + 2):
        await send_invoice(bot, chat_id=user, amount=user - USER + 1)
        charges.append(await pay(bot, standin, user))
    everything = (await bot.get_star_transactions()).transactions
    assert [t.id for t in everything] == charges
    assert [t.amount for t in everything] == [1, 2, 3]
    assert [t.id for t in (await bot.get_star_transactions(offset=1, limit=1)).transactions] == charges[1:2]
    assert (await bot.get_star_transactions(offset=3)).transactions == []


async def test_pay_invoice_needs_an_invoice(standin):
    with pytest.raises(ControlError, match="no invoice"):
        await standin.pay_invoice(USER)
