"""Promo codes in the buy flow (issue 12.1), every money part real (offers_support.py): a code from
a link or typed in shows its price on the plans and the plan, the Crypto Pay and Stars invoices
carry it, and the payment settles at it; a code that does not apply gets one sentence saying
which, in the user's language, and changes nothing; a plan a code makes free is given once."""
from __future__ import annotations

from decimal import Decimal

from tests.bot.chat import Person, buttons, labels
from tests.bot.offers_support import CRYPTO, STARS, Shop, pick_plan, shop_fixture  # noqa: F401 - the fixture
from tests.support.wait import wait_for


async def test_a_linked_code_discounts_the_crypto_bot_invoice_and_the_payment(shop: Shop, standin):
    await shop.code("SPRING20", "percent", "20")
    person = Person(standin, 12001)
    plans = await person.say("/start promo_spring20", expect="Choose a plan")
    assert "Promo code SPRING20: 20% off." in plans["text"]
    assert labels(plans)[0] == "30 days — 2.40 USD (was 3.00 USD) / 120 ⭐"
    assert "✖️ Remove code SPRING20" in labels(plans)

    screen = await pick_plan(person, plans)
    assert "Price with code SPRING20: 2.40 USD or 120 ⭐ (was 3.00 USD or 150 ⭐)" in screen["text"]
    after = await person.last_id()
    await person.tap(CRYPTO, message_id=plans["message_id"])
    await person.wait_screen(plans["message_id"], "Your invoice: 2.40 USD", timeout=10)
    invoice = shop.cryptopay.invoices()[-1]
    assert Decimal(invoice["amount"]) == Decimal("2.40") and "SPRING20" in invoice["description"]
    await shop.pay_last_crypto_invoice(person.id)
    await person.reply(after, "Payment of 2.40 USD received", timeout=20)
    await person.reply(after, "Your VPN is ready", timeout=20)
    assert await shop.db.fetchval("SELECT count(*) FROM promo_uses") == 1


async def test_a_typed_code_discounts_the_stars_invoice(shop: Shop, standin):
    await shop.code("STAR50", "percent", "50", plans=[2])
    person = Person(standin, 12002)
    plans = await person.say("/buy", expect="Choose a plan")
    await person.tap("🏷 I have a promo code", message_id=plans["message_id"])
    await person.wait_screen(plans["message_id"], "Send your promo code")
    plans = await person.say("  star50 ", expect="Choose a plan")
    # Only the 90-day plan is discounted; the others keep their price.
    assert labels(plans)[:2] == ["30 days — 3.00 USD / 150 ⭐", "90 days — 4.00 USD (was 8.00 USD) / 200 ⭐"]
    screen = await pick_plan(person, plans, "30")
    assert "does not apply to this plan, so it is at the full price" in screen["text"]
    await person.tap("⬅️ Back", message_id=plans["message_id"])
    plans = await person.wait_screen(plans["message_id"], "Promo code STAR50: 50% off.")   # Back keeps the code
    assert "90 days — 4.00 USD (was 8.00 USD) / 200 ⭐" in labels(plans)
    await pick_plan(person, plans, "90")
    await person.tap(STARS, message_id=plans["message_id"])
    await person.wait_screen(plans["message_id"], "Your invoice for 200 ⭐", timeout=10)
    invoice = [m for m in await standin.transcript(person.id) if m["invoice"]][-1]["invoice"]
    assert invoice["total_amount"] == 200
    after = await person.last_id()
    assert (await standin.pay_invoice(person.id))["status"] == "paid"
    await person.reply(after, "Your VPN is ready", timeout=20)
    assert await shop.db.fetchval("SELECT (amount, list_amount) = (200, 400) FROM purchases WHERE status = 'paid'")


async def test_each_refusal_is_one_sentence_in_the_users_language(shop: Shop, standin):
    await shop.code("GONE", valid_from="-2 days", valid_until="-1 day")
    await shop.code("SOON", valid_from="1 day")
    await shop.code("YEARONLY", plans=[99])
    await shop.code("ONCE", max_uses=1)
    holder = Person(standin, 12010)
    plans = await holder.say("/start promo_ONCE", expect="Choose a plan")
    await pick_plan(holder, plans)
    await holder.tap(CRYPTO, message_id=plans["message_id"])
    await holder.wait_screen(plans["message_id"], "Your invoice: 2.40 USD", timeout=10)   # holds the one use
    before = await shop.db.fetchval("SELECT count(*) FROM purchases")

    english, russian = Person(standin, 12011), Person(standin, 12012, language="ru")
    cases = [("NOPE", "There is no promo code “NOPE”. Check the spelling and try again.",
              "Промокода «NOPE» нет. Проверьте написание и попробуйте ещё раз."),
             ("gone", "The promo code GONE has expired.", "Срок действия промокода GONE истёк."),
             ("SOON", "The promo code SOON is not active yet.", "Промокод SOON ещё не начал действовать."),
             ("YEARONLY", "The promo code YEARONLY does not apply to this purchase.",
              "Промокод YEARONLY не действует на эту покупку."),
             ("ONCE", "The promo code ONCE has been used up.", "Промокод ONCE уже исчерпан."),
             # Shown as typed, never as markup.
             ("<b>x</b>", "There is no promo code “<b>x</b>”. Check the spelling and try again.",
              "Промокода «<b>x</b>» нет. Проверьте написание и попробуйте ещё раз."),
             ("9" * 200, "There is no promo code “" + "9" * 40 + "”.", "Промокода «" + "9" * 40 + "» нет.")]
    for typed, en, ru in cases:
        for person, expected in ((english, en), (russian, ru)):
            plans = await person.say("/buy", expect="")
            await person.tap(data=next(b["callback_data"] for b in buttons(plans) if b["callback_data"].startswith(
                "bo:")), message_id=plans["message_id"])
            await person.wait_screen(plans["message_id"], "🏷")
            reply = await person.say(typed, expect="")
            assert reply["text"].startswith(expected), (typed, reply["text"])
            assert reply["text"].count(".") <= 2        # one sentence, and nothing else
    # A deep link with a code that does not apply says so the same way.
    assert (await english.say("/start promo_GONE"))["text"] == "The promo code GONE has expired."
    assert await shop.db.fetchval("SELECT count(*) FROM purchases") == before


async def test_a_plan_a_code_makes_free_is_claimed_once(shop: Shop, standin):
    await shop.code("FREEMONTH", "free_plan", "0", plans=[1], max_uses=1)
    person = Person(standin, 12020)
    plans = await person.say("/start promo_FREEMONTH", expect="Choose a plan")
    assert labels(plans)[0] == "30 days — free 🎁"
    screen = await pick_plan(person, plans)
    assert "Free with code FREEMONTH" in screen["text"]
    assert labels(screen) == ["🎁 Get it free", "⬅️ Back"]
    after = await person.last_id()
    await person.tap("🎁 Get it free", message_id=plans["message_id"])
    await person.wait_screen(plans["message_id"], "Code FREEMONTH applied: 30 days are yours", timeout=10)
    await person.reply(after, "Your VPN is ready", timeout=20)
    row = await shop.db.fetchrow("SELECT method, amount, status FROM purchases WHERE user_id = $1", person.id)
    assert tuple(row) == ("promo", 0, "paid")

    other = Person(standin, 12021)
    assert (await other.say("/start promo_FREEMONTH"))["text"] == "The promo code FREEMONTH has been used up."
    assert (await person.say("/start promo_FREEMONTH"))["text"] == "You have already used the promo code FREEMONTH."
    await wait_for(lambda: shop.db.fetchval("SELECT count(*) = 1 FROM activations"), timeout=5)
