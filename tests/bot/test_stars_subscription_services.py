"""Issue 13.1/13.2 with every process real (bot, payments, vpn_gateway against the Telegram and
Outline stand-ins): a person subscribes to the monthly plan with Telegram Stars from /buy, Telegram
renews it three times on the stand-in's clock with every successful_payment delivered twice and
the bot restarted between the two deliveries, each charge settles once; the person cancels the
renewal from My subscription; a chargeback the bot hears of takes back exactly that month, and the
person is told the subscription will not renew, as My subscription then shows."""
from __future__ import annotations

import asyncpg

from sandbox.telegram import TelegramStandIn
from tests.bot.chat import Person, buttons
from tests.bot.test_acceptance_services import stack, start_all  # noqa: F401  (the stack fixture)
from tests.support.wait import wait_for

MONTH = 2592000
USER = 7101


def redeliver(standin: TelegramStandIn, message_id: int) -> None:
    """Telegram hands the bot the same successful_payment again (it had not seen it confirmed)."""
    world = standin.world
    message = next(m for m in world.chat(USER).messages if m.message_id == message_id)
    world.enqueue("message", world.message_api(message))


async def test_a_stars_subscription_renews_settles_once_each_and_can_be_cancelled(stack, launch_bot, standin):  # noqa: F811
    bot = await start_all(stack, launch_bot)
    await standin.set_limits(chat_rate=100, chat_burst=100)
    conn = await asyncpg.connect(stack.database_url)
    try:
        async def paid() -> int:
            return await conn.fetchval("SELECT count(*) FROM purchases WHERE user_id = $1 AND status = 'paid'", USER)

        async def updates_taken() -> bool:
            return not await standin.pending_updates()

        person = Person(standin, USER)
        await person.say("/start")
        screen = await person.say("/buy", expect="Choose a plan")
        await person.tap(data=buttons(screen)[0]["callback_data"], message_id=screen["message_id"])
        await person.wait_screen(screen["message_id"], "How would you like to pay")
        monthly = next(b for b in buttons(await person.screen(screen["message_id"]))
                       if b.get("callback_data", "").endswith(":starsub"))
        await person.tap(data=monthly["callback_data"], message_id=screen["message_id"])
        offer = await person.wait_screen(screen["message_id"], "Your subscription", timeout=10)
        url = next(b["url"] for b in buttons(offer) if b.get("url", "").startswith("https://t.me/$"))

        first = await standin.pay_link(USER, url, copies=2)
        assert first["status"] == "paid"
        await wait_for(lambda: _equals(paid, 1), timeout=20, message="first charge settled")
        await wait_for(updates_taken, timeout=20, message="both copies taken")

        for renewal in range(3):
            event = (await standin.advance_clock(MONTH))["events"][0]
            assert event["status"] == "renewed"
            await wait_for(lambda n=renewal: _equals(paid, n + 2), timeout=20, message=f"renewal {renewal + 1}")
            bot.stop()
            redeliver(standin, event["message_id"])   # the second delivery reaches a restarted bot
            await bot.start()
            await wait_for(updates_taken, timeout=20, message="the second copy taken")
        assert await paid() == 4
        assert await conn.fetchval("SELECT count(*) FROM payment_events WHERE outcome = 'settled'") == 4
        assert await conn.fetchval("SELECT count(*) FROM payment_events WHERE outcome <> 'settled'") == 0
        assert await conn.fetchval("SELECT renewals FROM star_subscriptions WHERE user_id = $1", USER) == 3
        days = await conn.fetchval("SELECT extract(day FROM expires_at - now())::int FROM subscriptions "
                                   "WHERE user_id = $1", USER)
        assert days in (119, 120)
        assert await conn.fetchval(
            "SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'payment_received'", USER) == 4

        # My subscription: the Stars subscription and its renewal switch.
        mine = await person.say("/subscription", expect="Stars subscription")
        assert "next charge" in mine["text"]
        cancel = next(b for b in buttons(mine) if b.get("callback_data", "").endswith(":scancel"))
        await person.tap(data=cancel["callback_data"], message_id=mine["message_id"])
        await person.wait_screen(mine["message_id"], "cancelled", timeout=10)
        assert (await standin.star_subscriptions(USER))[0]["canceled_by_bot"]
        ended = (await standin.advance_clock(MONTH))["events"][0]
        assert (ended["status"], ended["reason"]) == ("ended", "canceled")

        # A chargeback of the second charge, relayed by the bot: that month comes off, once.
        before = await conn.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", USER)
        second = await conn.fetchval("SELECT provider_charge_id FROM purchases WHERE user_id = $1 "
                                     "ORDER BY id OFFSET 1 LIMIT 1", USER)
        after = await person.last_id()
        await standin.chargeback(USER, second)
        told = await person.reply(after, "has been refunded", timeout=20)
        assert "will not charge you again" in told["text"]     # the renewal is cancelled for good
        now = await conn.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", USER)
        assert (before - now).days == 30
        assert await conn.fetchval("SELECT source FROM payment_refunds") == "refunded_payment"
        assert await conn.fetchval("SELECT status FROM subscriptions WHERE user_id = $1", USER) == "active"
        mine = await person.say("/subscription", expect="cancelled after a refund")
        assert not [b for b in buttons(mine) if b.get("callback_data", "").endswith((":scancel", ":sresume"))]
    finally:
        await conn.close()


async def _equals(count, expected: int) -> bool:
    return await count() == expected
