"""Stars subscriptions on the Telegram stand-in, through aiogram as a bot sees them: an invoice link
with subscription_period, the first charge and renewals on the stand-in's clock (with the
recurring fields of SuccessfulPayment), a renewal that fails for want of Stars, editUserStarSubscription,
refunds and chargebacks in getStarTransactions (TransactionPartnerUser as source, then as receiver),
getMyStarBalance."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import LabeledPrice

from sandbox.telegram import ControlError, TelegramStandIn
from tests.support.telegram_bot import next_update

USER = 3003
MONTH = 2592000


async def link(bot: Bot, *, period: int | None = MONTH, amount: int = 150) -> str:
    return await bot.create_invoice_link(
        title="VPN monthly", description="renewed every 30 days", payload="atcs:1", currency="XTR",
        prices=[LabeledPrice(label="month", amount=amount)], subscription_period=period)


async def answer_pre_checkout(bot: Bot) -> None:
    query = (await next_update(bot, "pre_checkout_query")).pre_checkout_query
    await bot.answer_pre_checkout_query(query.id, ok=True)


async def subscribe(bot: Bot, standin: TelegramStandIn, url: str) -> dict:
    paying = asyncio.create_task(standin.pay_link(USER, url))
    await answer_pre_checkout(bot)
    return await asyncio.wait_for(paying, 5)


async def test_a_subscription_link_charges_now_and_again_every_period(bot, standin):
    url = await link(bot)
    assert url.startswith("https://t.me/$")
    first = await subscribe(bot, standin, url)
    assert first["status"] == "paid"
    payment = (await next_update(bot, "message")).message.successful_payment
    assert (payment.is_recurring, payment.is_first_recurring) == (True, True)
    assert payment.telegram_payment_charge_id == first["charge_id"]
    assert payment.subscription_expiration_date == first["expires_at"]

    renewed = await standin.advance_clock(MONTH)
    assert [e["status"] for e in renewed["events"]] == ["renewed"]
    renewal = (await next_update(bot, "message")).message.successful_payment
    assert renewal.is_recurring and not renewal.is_first_recurring
    assert renewal.invoice_payload == "atcs:1"
    assert renewal.telegram_payment_charge_id not in (first["charge_id"], None)
    assert renewal.subscription_expiration_date == first["expires_at"] + MONTH
    # Paying the link again while subscribed is refused (Telegram shows "already subscribed").
    with pytest.raises(ControlError):
        await standin.pay_link(USER, url)

    transactions = (await bot.get_star_transactions()).transactions
    assert [t.source.subscription_period for t in transactions] == [MONTH, MONTH]
    assert [t.source.user.id for t in transactions] == [USER, USER]
    assert (await bot.get_my_star_balance()).amount == 300


async def test_renewal_needs_the_payers_stars_and_follows_the_bots_cancel(bot, standin):
    first = await subscribe(bot, standin, await link(bot))
    await bot.edit_user_star_subscription(USER, first["charge_id"], is_canceled=True)
    assert (await standin.star_subscriptions(USER))[0]["canceled_by_bot"]
    await bot.edit_user_star_subscription(USER, first["charge_id"], is_canceled=False)
    await standin.set_stars(USER, 149)
    ended = await standin.renew_now(USER)
    assert ended["events"][0] | {"subscription_id": None} == {
        "subscription_id": None, "user_id": USER, "status": "ended", "reason": "missing_balance"}
    assert len((await bot.get_star_transactions()).transactions) == 1
    with pytest.raises(TelegramBadRequest, match="SUBSCRIPTION_EXPIRED"):
        await bot.edit_user_star_subscription(USER, first["charge_id"], is_canceled=True)
    with pytest.raises(ControlError):
        await standin.renew_now(USER)   # nothing active is left to renew


async def test_refunds_and_chargebacks_show_as_transactions_to_the_user(bot, standin):
    first = await subscribe(bot, standin, await link(bot))
    second = (await standin.advance_clock(MONTH))["events"][0]
    await bot.refund_star_payment(USER, first["charge_id"])
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(USER, first["charge_id"])
    await standin.chargeback(USER, second["charge_id"], silent=True)
    with pytest.raises(ControlError):
        await standin.chargeback(USER, second["charge_id"])

    transactions = (await bot.get_star_transactions()).transactions
    refunds = [t for t in transactions if t.receiver is not None]
    assert [(t.id, t.receiver.type, t.receiver.user.id) for t in refunds] == [
        (first["charge_id"], "user", USER), (second["charge_id"], "user", USER)]
    assert (await bot.get_my_star_balance()).amount == 0
    # Only the admin's refund reached the bot as a refunded_payment; the silent chargeback did not.
    updates = await standin.pending_updates()
    refunded = [u["message"]["refunded_payment"] for u in updates if "refunded_payment" in u.get("message", {})]
    assert [r["telegram_payment_charge_id"] for r in refunded] == [first["charge_id"]]


async def test_invoice_links_are_checked_as_telegram_checks_them(bot, standin):
    with pytest.raises(TelegramBadRequest, match="SUBSCRIPTION_PERIOD_INVALID"):
        await link(bot, period=86400)
    with pytest.raises(TelegramBadRequest, match="STARS_INVOICE_INVALID"):
        await link(bot, amount=10001)
    with pytest.raises(TelegramBadRequest, match="CHARGE_ID_INVALID"):
        await bot.edit_user_star_subscription(USER, "no-such-charge", is_canceled=True)
    one_off = await link(bot, period=None)
    paying = asyncio.create_task(standin.pay_link(USER, one_off))
    await answer_pre_checkout(bot)
    paid = await asyncio.wait_for(paying, 5)
    payment = (await next_update(bot, "message")).message.successful_payment
    assert payment.telegram_payment_charge_id == paid["charge_id"] and not payment.is_recurring
    assert await standin.star_subscriptions(USER) == []


async def test_a_refund_gives_the_stars_back_and_the_subscription_renews_until_the_bot_cancels_it(bot, standin):
    # Telegram's refundStarPayment documents no cancel: the bot must call editUserStarSubscription.
    first = await subscribe(bot, standin, await link(bot))
    await bot.refund_star_payment(USER, first["charge_id"])
    renewed = await standin.renew_now(USER)
    assert [e["status"] for e in renewed["events"]] == ["renewed"]
    await standin.chargeback(USER, renewed["events"][0]["charge_id"])
    assert (await standin.star_subscriptions(USER))[0]["state"] == "active"

    await bot.edit_user_star_subscription(USER, first["charge_id"], is_canceled=True)
    ended = await standin.renew_now(USER)
    assert [(e["status"], e["reason"]) for e in ended["events"]] == [("ended", "canceled")]
    charges = [t.id for t in (await bot.get_star_transactions()).transactions if t.receiver is None]
    assert charges == [first["charge_id"], renewed["events"][0]["charge_id"]]
