"""The admin console's promo codes (issue 12.1), every money part real (offers_support.py): an
admin builds a code one screen at a time, a user buys with it, the code's card shows its uses and
revenue, disabling it stops new purchases; bad input gets the question again and creates nothing.
And an unredeemed gift refunded by an admin (issue 12.2) goes to its giver's balance."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from tests.bot.admin_support import AdminPerson
from tests.bot.chat import Person, buttons, forged_tap, labels
from tests.bot.offers_support import CRYPTO, Shop, pick_plan, shop_fixture  # noqa: F401 - the fixture
from tests.bot.test_gifts import buy_gift


async def test_an_admin_creates_a_code_a_user_buys_with_it_and_the_card_counts_it(shop: Shop, standin):
    admin = AdminPerson(standin)
    home = await admin.console()
    await admin.press("🏷 Promo codes", home["message_id"], "No promo codes yet.")
    await admin.press("➕ New code", home["message_id"], "Send the new code")
    for bad in ("a", "has space", "ÄÖÜ", "x" * 40):
        assert (await admin.say(bad))["text"].startswith("A code is 3–32 letters"), bad
    kinds = await admin.say("summer-25", expect="What does it give?")
    assert "SUMMER-25" in kinds["text"]
    await admin.press("% Percent off", kinds["message_id"], "How many percent off?")
    for bad in ("0", "101", "-5", "12.5", "99999999999999999999", "²"):
        assert (await admin.say(bad))["text"].startswith("How many percent off?"), bad
    draft = await admin.say("25", expect="New code SUMMER-25")
    assert "25% off" in draft["text"] and "Plans: every plan" in draft["text"]
    await admin.press("▫️ month_1", draft["message_id"], "Plans: month_1")
    await admin.press("🔢 Total uses: no limit", draft["message_id"], "How many uses in total?")
    assert (await admin.say("lots"))["text"].startswith("How many uses in total?")
    draft = await admin.say("2", expect="Total uses: 2")
    valid = next(label for label in labels(draft) if label.startswith("📅 Valid: "))
    assert valid.endswith("→ no end")
    await admin.press(valid, draft["message_id"], "When is it valid")
    assert (await admin.say("2020-01-01"))["text"].startswith("That is not a valid period")
    assert (await admin.say("2030-02-30"))["text"].startswith("That is not a valid period")
    last_day = (datetime.now(timezone.utc) + timedelta(days=30)).date().isoformat()
    draft = await admin.say(last_day, expect="New code SUMMER-25")
    assert f"→ {last_day}" not in draft["text"] and "UTC" in draft["text"]   # ends at the end of that day
    card = await admin.press("✅ Create the code", draft["message_id"], "Code SUMMER-25 created")
    assert "Uses: 0 of 2" in card["text"] and "Plans: month_1" in card["text"]
    assert "One use per user: yes" in card["text"]
    code_id = await shop.db.fetchval("SELECT id FROM promo_codes WHERE code = 'SUMMER-25'")
    row = await shop.db.fetchrow("SELECT kind, value, plan_ids, max_uses, valid_until::date AS until "
                                 "FROM promo_codes WHERE id = $1", code_id)
    assert (row["kind"], row["value"], row["plan_ids"], row["max_uses"]) == ("percent", 25, [1], 2)
    assert row["until"].isoformat() > last_day    # the whole last day is included

    # A user buys with it.
    buyer = Person(standin, 14001)
    plans = await buyer.say("/start promo_summer-25", expect="Choose a plan")
    await pick_plan(buyer, plans)
    after = await buyer.last_id()
    await buyer.tap(CRYPTO, message_id=plans["message_id"])
    await buyer.wait_screen(plans["message_id"], "Your invoice: 2.25 USD", timeout=10)
    await shop.pay_last_crypto_invoice(buyer.id)
    await buyer.reply(after, "Payment of 2.25 USD received", timeout=20)

    home = await admin.console()
    listing = await admin.press("🏷 Promo codes", home["message_id"], "SUMMER-25")
    assert "SUMMER-25 · 25% off · 1/2 uses · active · 2.25 USD" in listing["text"]
    card = await admin.press("SUMMER-25", home["message_id"], "Uses: 1 of 2")
    assert "Revenue: 2.25 USD" in card["text"] and "Discount given: 0.75 USD" in card["text"]

    # Disabled: the next buyer is told so; the audit log has both actions.
    toast = await admin.toast("⛔ Disable", message_id=home["message_id"])
    assert toast.startswith("The code is disabled")
    await admin.wait_screen(home["message_id"], "Status: disabled")
    assert "⛔ Disable" not in labels(await admin.screen(home["message_id"]))
    late = Person(standin, 14002, language="ru")
    assert (await late.say("/start promo_SUMMER-25"))["text"] == "Промокод SUMMER-25 отключён."
    audit = [tuple(r) for r in await shop.db.fetch("SELECT action, target FROM admin_audit ORDER BY id")]
    assert audit == [("promo_create", f"promo:{code_id}"), ("promo_disable", f"promo:{code_id}")]


async def test_a_free_plan_code_needs_a_plan_and_an_existing_code_is_refused(shop: Shop, standin):
    await shop.code("TAKEN")
    admin = AdminPerson(standin)
    home = await admin.console()
    await admin.press("🏷 Promo codes", home["message_id"], "TAKEN")
    await admin.press("➕ New code", home["message_id"], "Send the new code")
    assert (await admin.say("taken"))["text"].startswith("The code TAKEN exists already")
    kinds = await admin.say("GIFTMONTH", expect="What does it give?")
    draft = await admin.press("🎁 A free plan", kinds["message_id"], "needs at least one plan")
    assert (await admin.toast("✅ Create the code", message_id=draft["message_id"])).startswith(
        "A free-plan code needs at least one plan")
    draft = await admin.press("▫️ month_3", draft["message_id"], "Plans: month_3")
    create = next(b["callback_data"] for b in buttons(draft) if b["text"] == "✅ Create the code")
    await admin.press("✅ Create the code", draft["message_id"], "Code GIFTMONTH created")
    assert await shop.db.fetchval("SELECT (kind, plan_ids) = ('free_plan', '{2}') FROM promo_codes "
                                  "WHERE code = 'GIFTMONTH'")
    # The draft is gone: its "Create", replayed, creates nothing.
    again = await forged_tap(standin, admin.id, draft["message_id"], create)
    assert (await admin.answer_of(again))["answers"][0]["text"] == "This button is out of date. Open the menu again."
    assert await shop.db.fetchval("SELECT count(*) FROM promo_codes") == 2


async def test_an_admin_refunds_an_unredeemed_gift_to_the_givers_balance(shop: Shop, standin):
    giver = Person(standin, 14010)
    token = await buy_gift(giver, shop, standin)
    purchase_id = await shop.db.fetchval("SELECT purchase_id FROM gifts WHERE token = $1", token)
    admin = AdminPerson(standin)
    card = await admin.say(f"/user {giver.id}", expect=f"User {giver.id}")
    await admin.press("💳 Purchases and refunds", card["message_id"], "30-day gift (ready)")
    after = await giver.last_id()
    await admin.press(f"↩️ Refund #{purchase_id}", card["message_id"], "Refund this purchase?")
    await admin.press("Yes, refund", card["message_id"], f"Purchase #{purchase_id}: refunded", timeout=10)
    await giver.reply(after, "3.00 USD has been refunded", timeout=20)
    assert await shop.db.fetchval("SELECT balance FROM users WHERE id = $1", giver.id) == Decimal("3.00")
    friend = Person(standin, 14011)
    assert (await friend.say(f"/start gift_{token}"))["text"].startswith("This gift has been cancelled.")
    listed = await giver.say("/gifts", expect="Your gifts")
    assert "refunded" in listed["text"]
