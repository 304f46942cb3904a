"""Gift subscriptions through the bot (issue 12.2), every money part real (offers_support.py):
a plan bought as a gift gives its buyer a link instead of days; the first person to open it gets
the days and a key (a newcomer gets an account with the gift, no trial), the giver is told; the
link works once even when twenty people open it at the same moment; one's own gift is refused;
unredeemed gifts are listed for the giver."""
from __future__ import annotations

import re

from tests.bot.chat import Person, labels
from tests.bot.offers_support import CRYPTO, STARS, Shop, pick_plan, shop_fixture  # noqa: F401 - the fixture
from tests.support.wait import wait_for

LINK = re.compile(r"https://t\.me/atcs_test_bot\?start=gift_([A-Za-z0-9_-]{22,43})")


async def buy_gift(person: Person, shop: Shop, standin, method: str = CRYPTO) -> str:
    plans = await person.say("/buy", expect="Choose a plan")
    screen = await pick_plan(person, plans)
    assert "🎁 Buy as a gift" in labels(screen)
    await person.tap("🎁 Buy as a gift", message_id=plans["message_id"])
    screen = await person.wait_screen(plans["message_id"], "As a gift")
    assert "👤 Buy for myself instead" in labels(screen)
    after = await person.last_id()
    await person.tap(method, message_id=plans["message_id"])
    if method == CRYPTO:
        await person.wait_screen(plans["message_id"], "Your invoice: 3.00 USD", timeout=10)
        await shop.pay_last_crypto_invoice(person.id)
    else:
        await person.wait_screen(plans["message_id"], "Your invoice for 150 ⭐", timeout=10)
        assert (await standin.pay_invoice(person.id))["status"] == "paid"
    ready = await person.reply(after, "Your gift of 30 days is paid", timeout=20)
    share = [b for b in ready["reply_markup"]["inline_keyboard"][0]]
    assert share[0]["text"] == "📤 Send the link" and "t.me%2Fatcs_test_bot" in share[0]["url"]
    return LINK.search(ready["text"]).group(1)


async def test_a_gift_goes_to_whoever_opens_the_link_first(shop: Shop, standin):
    giver = Person(standin, 13001, first_name="Gia")
    await giver.say("/start")
    token = await buy_gift(giver, shop, standin)
    # The giver bought days for someone else: none for them, no key.
    assert await shop.db.fetchval("SELECT count(*) FROM subscriptions WHERE user_id = $1", giver.id) == 0
    listed = await giver.say("/gifts", expect="Your gifts")
    assert f"gift_{token}" in listed["text"] and "not redeemed yet" in listed["text"]

    own = await giver.say(f"/start gift_{token}")
    assert own["text"].startswith("This is your own gift")

    newcomer = Person(standin, 13002, first_name="Nell")
    after = await giver.last_id()
    got = await newcomer.say(f"/start gift_{token}", expect="You received a gift")
    assert "30 days" in got["text"]
    await newcomer.reply(0, "Your VPN is ready", timeout=20)
    sub = await shop.db.fetchrow("SELECT is_trial, expires_at > now() + interval '29 days' AS long "
                                 "FROM subscriptions WHERE user_id = $1", newcomer.id)
    assert tuple(sub) == (False, True)
    assert await shop.db.fetchval("SELECT trial_used_at FROM users WHERE id = $1", newcomer.id) is None
    await giver.reply(after, "Nell has redeemed your gift of 30 days", timeout=10)

    late = Person(standin, 13003)
    assert (await late.say(f"/start gift_{token}"))["text"].startswith("This gift has already been redeemed.")
    listed = await giver.say("/gifts", expect="Your gifts")
    assert "redeemed on" in listed["text"] and f"gift_{token}" not in listed["text"]


async def test_an_existing_user_gets_the_days_added(shop: Shop, standin):
    giver, friend = Person(standin, 13010), Person(standin, 13011)
    await friend.say("/trial", expect="free trial")
    await friend.reply(0, "Your free trial is ready", timeout=20)
    before = await shop.db.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", friend.id)
    token = await buy_gift(giver, shop, standin, STARS)
    await friend.say(f"/start gift_{token}", expect="You received a gift")
    after = await shop.db.fetchval("SELECT expires_at FROM subscriptions WHERE user_id = $1", friend.id)
    assert (after - before).days == 30


async def test_twenty_people_opening_one_link_at_once_one_gets_it(shop: Shop, standin):
    giver = Person(standin, 13020)
    token = await buy_gift(giver, shop, standin)
    people = [Person(standin, 13100 + i) for i in range(20)]
    for person in people:   # all twenty messages are in Telegram before the bot takes any
        await standin.user_message(person.id, f"/start gift_{token}", first_name="P", language_code="en")

    async def everyone_answered() -> list[str]:
        texts = ["\n".join(m["text"] or "" for m in await standin.transcript(p.id) if m["from"] == "bot")
                 for p in people]
        return texts if all(texts) else []

    answers = await wait_for(everyone_answered, timeout=30, message="every opener answered")
    assert sum("🎁 You received a gift" in a for a in answers) == 1
    assert sum(a.startswith("This gift has already been redeemed.") for a in answers) == 19
    assert await shop.db.fetchval("SELECT count(*) FROM subscriptions") == 1
    assert await shop.db.fetchval("SELECT count(*) FROM activations") == 1


async def test_broken_and_foreign_links_are_refused_and_change_nothing(shop: Shop, standin):
    person = Person(standin, 13030)
    for link in ("gift_", "gift_short", "gift_" + "A" * 22, "gift_" + "x" * 60, "gift_../../x"):
        reply = await person.say(f"/start {link}")
        assert reply["text"].startswith("This gift link is not valid."), (link, reply["text"])
    assert await shop.db.fetchval("SELECT count(*) FROM subscriptions") == 0
    ru = Person(standin, 13031, language="ru")
    assert (await ru.say("/start gift_" + "B" * 22))["text"].startswith("Эта подарочная ссылка недействительна.")
