"""Traffic packages through the bot (issue 12.3), every money part real (offers_support.py) on a
Remnawave panel: My subscription → Extra traffic → a package → the balance pays, the panel's limit
rises; a double tap buys one package; a forged or stale tap changes nothing; the option is not
shown where it means nothing (an unlimited plan, an Outline account)."""
from __future__ import annotations

from decimal import Decimal

from services.bot.callbacks import SubAction, SubCb, TrafficCb, TrafficMethod
from tests.bot.chat import Person, buttons, forged_tap, labels
from tests.bot.offers_support import Shop, buy_plan_with_crypto, shop_fixture  # noqa: F401 - the fixture
from tests.support.wait import wait_for

SHOP_PANEL = "remnawave"
GB = 1024 ** 3
EXTRA = "➕ Extra traffic"


async def on_plan(person: Person, shop: Shop, *, balance: str) -> None:
    """The person bought the 30-day plan (100 GB) with Crypto Bot and has `balance` on the balance."""
    await buy_plan_with_crypto(person, shop, "30")
    await shop.db.execute("INSERT INTO balance_ledger (user_id, amount, kind, reference) VALUES ($1, $2, 'admin', $3)",
                          person.id, Decimal(balance), f"seed:{person.id}")
    await shop.db.execute("UPDATE users SET balance = $2 WHERE id = $1", person.id, Decimal(balance))


async def state(shop: Shop, user_id: int) -> tuple:
    return tuple(await shop.db.fetchrow(
        """SELECT s.extra_traffic_bytes, u.balance, (SELECT count(*) FROM purchases p
                                                    WHERE p.user_id = u.id AND p.kind = 'traffic') AS packages
           FROM users u JOIN subscriptions s ON s.user_id = u.id WHERE u.id = $1""", user_id))


async def test_a_package_from_the_balance_raises_the_panel_limit_once(shop: Shop, standin):
    person = Person(standin, 17001)
    await on_plan(person, shop, balance="10.00")
    screen = await person.say("/subscription", expect="100.0 GB")
    assert EXTRA in labels(screen)
    await person.tap(EXTRA, message_id=screen["message_id"])
    offer = await person.wait_screen(screen["message_id"], "Your limit now: 100.0 GB")
    assert labels(offer)[:2] == ["10 GB — 2.50 USD / 120 ⭐", "50 GB — 9.00 USD / 450 ⭐"]
    await person.tap("10 GB — 2.50 USD / 120 ⭐", message_id=screen["message_id"])
    summary = await person.wait_screen(screen["message_id"], "Your traffic limit becomes 110.0 GB")
    assert await state(shop, person.id) == (0, Decimal("10.00"), 0)      # nothing charged yet
    pay = next(b for b in buttons(summary) if b["text"] == "💰 From balance (10.00 USD)")
    await person.tap(data=pay["callback_data"], message_id=screen["message_id"])
    await person.wait_screen(screen["message_id"], "10 GB added: your traffic limit is now 110.0 GB", timeout=10)
    again = await forged_tap(standin, person.id, screen["message_id"], pay["callback_data"])   # a second tap
    await person.answer_of(again)
    assert await state(shop, person.id) == (10 * GB, Decimal("7.50"), 1)

    async def raised() -> bool:
        return await shop.db.fetchval("SELECT traffic_limit_bytes FROM vpn_accounts WHERE user_id = $1",
                                      person.id) == 110 * GB
    await wait_for(raised, timeout=15, message="the panel's limit raised by vpn_gateway")
    assert await shop.db.fetchval(
        "SELECT count(*) FROM activations WHERE user_id = $1 AND action = 'set_limit'", person.id) == 1
    await person.say("/subscription", expect="110.0 GB")


async def test_forged_and_stale_taps_change_nothing(shop: Shop, standin):
    person = Person(standin, 17002)
    await on_plan(person, shop, balance="100.00")
    screen = await person.say("/subscription", expect="My subscription")
    await person.tap(EXTRA, message_id=screen["message_id"])
    offer = await person.wait_screen(screen["message_id"], "Extra traffic.")
    flow = TrafficCb.unpack(buttons(offer)[0]["callback_data"]).flow
    before = await state(shop, person.id)

    unknown = TrafficCb(flow=flow, package="nope", method=TrafficMethod.BALANCE).pack()
    tap = await forged_tap(standin, person.id, screen["message_id"], unknown)
    assert "not on sale" in (await person.answer_of(tap))["answers"][0]["text"]
    huge = f"x:{flow}:{'9' * 40}:balance"                   # past the id's bounds: does not even parse
    tap = await forged_tap(standin, person.id, screen["message_id"], huge)
    assert "out of date" in (await person.answer_of(tap))["answers"][0]["text"]
    other_flow = TrafficCb(flow="AAAAAAAA", package="10gb", method=TrafficMethod.BALANCE).pack()
    tap = await forged_tap(standin, person.id, screen["message_id"], other_flow)
    assert "out of date" in (await person.answer_of(tap))["answers"][0]["text"]
    assert await state(shop, person.id) == before


async def test_no_option_where_it_means_nothing(shop: Shop, standin):
    person = Person(standin, 17003)
    await on_plan(person, shop, balance="100.00")
    # An account on Outline (its data limit is a rolling 30 days: nothing bought would last).
    await shop.db.execute("UPDATE vpn_accounts SET backend = 'outline' WHERE user_id = $1", person.id)
    screen = await person.say("/subscription", expect="My subscription")
    assert EXTRA not in labels(screen)
    tap = await forged_tap(standin, person.id, screen["message_id"], SubCb(action=SubAction.TRAFFIC).pack())
    assert "not available" in (await person.answer_of(tap))["answers"][0]["text"]
    # An unlimited plan.
    await shop.db.execute("UPDATE vpn_accounts SET backend = 'remnawave' WHERE user_id = $1", person.id)
    await shop.db.execute("UPDATE subscriptions SET traffic_limit_bytes = 0 WHERE user_id = $1", person.id)
    screen = await person.say("/subscription", expect="My subscription")
    assert EXTRA not in labels(screen)
    assert await state(shop, person.id) == (0, Decimal("100.00"), 0)
