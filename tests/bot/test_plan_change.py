"""Changing plans through the bot (issue 12.4), every money part real (offers_support.py): the
screen shows the arithmetic before anything is charged; an upgrade is paid from the balance, or
the rest by an invoice whose payment completes it; a downgrade adds days; a double tap is one
change; a trial has no change to offer. Days of use are the subscription's expiry moved closer."""
from __future__ import annotations

from decimal import Decimal

from tests.bot.chat import Person, buttons, forged_tap, labels
from tests.bot.offers_support import Shop, buy_plan_with_crypto, shop_fixture  # noqa: F401 - the fixture


async def on_plan(person: Person, shop: Shop, plan_label: str, *, days_left: int, balance: str = "0") -> None:
    """The person bought a plan with Crypto Bot and has used it until `days_left` days are left."""
    await buy_plan_with_crypto(person, shop, plan_label)
    await shop.db.execute("UPDATE subscriptions SET expires_at = now() + make_interval(secs => $2) WHERE user_id = $1",
                          person.id, days_left * 86400 + 60)
    if Decimal(balance):
        await shop.db.execute("INSERT INTO balance_ledger (user_id, amount, kind, reference) VALUES ($1, $2, 'admin', $3)",
                              person.id, Decimal(balance), f"seed:{person.id}")
        await shop.db.execute("UPDATE users SET balance = $2 WHERE id = $1", person.id, Decimal(balance))


async def open_change(person: Person, target: str) -> dict:
    screen = await person.say("/subscription", expect="subscription")
    await person.tap("🔁 Change plan", message_id=screen["message_id"])
    await person.wait_screen(screen["message_id"], "Choose the new plan")
    await person.tap(target, message_id=screen["message_id"])
    return await person.wait_screen(screen["message_id"], "After the change")


async def test_an_upgrade_shows_its_arithmetic_and_is_paid_from_the_balance_once(shop: Shop, standin):
    person = Person(standin, 16001)
    await on_plan(person, shop, "30", days_left=15, balance="10.00")
    quote = await open_change(person, "month_3: 90 days — 8.00 USD")
    text = quote["text"]
    assert "month_1 → month_3" in text
    assert "15.0 paid days worth 1.50 USD" in text and "0.0 free days" in text
    assert "8.00 USD − 1.50 USD = 6.50 USD, from your balance (10.00 USD)" in text
    assert await shop.db.fetchval("SELECT count(*) FROM plan_changes") == 0      # nothing charged yet
    confirm = next(b for b in buttons(quote) if b["text"] == "✅ Change and pay 6.50 USD")
    await person.tap(data=confirm["callback_data"], message_id=quote["message_id"])
    await person.wait_screen(quote["message_id"], "Your plan is now month_3", timeout=10)
    again = await forged_tap(standin, person.id, quote["message_id"], confirm["callback_data"])   # a second tap
    await person.answer_of(again)
    assert await shop.db.fetchval("SELECT count(*) FROM plan_changes") == 1
    assert await shop.db.fetchval("SELECT balance FROM users WHERE id = $1", person.id) == Decimal("3.50")
    assert await shop.db.fetchval("SELECT plan_id FROM subscriptions WHERE user_id = $1", person.id) == 2


async def test_an_upgrade_the_balance_cannot_cover_is_finished_by_an_invoice(shop: Shop, standin):
    person = Person(standin, 16002)
    await on_plan(person, shop, "30", days_left=15)
    quote = await open_change(person, "month_3: 90 days — 8.00 USD")
    assert "6.50 USD: 0.00 USD from your balance and 6.50 USD by a Crypto Bot invoice" in quote["text"]
    await person.tap("✅ Change and pay 6.50 USD", message_id=quote["message_id"])
    await person.wait_screen(quote["message_id"], "pay 6.50 USD in Crypto Bot", timeout=10)
    assert "💎 Pay in Crypto Bot" in labels(await person.screen(quote["message_id"]))
    after = await person.last_id()
    await shop.pay_last_crypto_invoice(person.id)
    await person.reply(after, "Your plan is now month_3", timeout=20)
    assert await shop.db.fetchval("SELECT plan_id FROM subscriptions WHERE user_id = $1", person.id) == 2


async def test_a_downgrade_adds_days_and_a_trial_has_nothing_to_change(shop: Shop, standin):
    person = Person(standin, 16003)
    await on_plan(person, shop, "90", days_left=45)
    quote = await open_change(person, "month_1: 30 days — 3.00 USD")
    assert "Your 4.00 USD buy 40 days of month_1 (3.00 USD per 30 days). Nothing to pay" in quote["text"]
    await person.tap("✅ Change the plan", message_id=quote["message_id"])
    await person.wait_screen(quote["message_id"], "Your plan is now month_1", timeout=10)
    assert await shop.db.fetchval("SELECT balance FROM users WHERE id = $1", person.id) == 0

    trial = Person(standin, 16004)
    await trial.say("/trial", expect="free trial")
    screen = await trial.say("/subscription", expect="subscription")
    assert "🔁 Change plan" not in labels(screen)
    ru = Person(standin, 16005, language="ru")
    await ru.say("/start")
    stale = await forged_tap(standin, ru.id, (await ru.say("/subscription"))["message_id"], "s:change")
    assert (await ru.answer_of(stale))["answers"][0]["text"].startswith("Сменить можно только")
