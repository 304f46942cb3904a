"""Issue 12's acceptance in the web chat, in a real headless Chromium: with the real bot, payments
and vpn_gateway behind the stand-ins, the admin creates a promo code, a newcomer buys a plan with
it (Stars, the invoice's Pay button), buys a traffic package on top of its 100 GB, buys a second
plan as a gift, and a friend opens the gift link and gets the days. The panel is Remnawave (a
traffic limit that lasts, so packages are offered). A screenshot of each chat is kept with the
test's files."""
from __future__ import annotations

import re

import pytest

from sandbox.webchat import Persona
from tests.bot.browser import WebChat, page_fixture  # noqa: F401 - the page fixture
from tests.bot.conftest import ADMIN_ID
from tests.bot.offers_support import Shop, shop_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser
SHOP_PANEL = "remnawave"     # offers_support.shop_fixture: the panel behind vpn_gateway
ADMIN, BUYER, FRIEND = (Persona(id=ADMIN_ID, first_name="Ada", label="Admin"), Persona(id=15001, first_name="Bea"),
                        Persona(id=15002, first_name="Fay"))
WEB_CHAT_PERSONAS = (ADMIN, BUYER, FRIEND)   # conftest.standin serves the web chat with them


async def test_a_newcomer_buys_with_an_admins_code_and_gifts_a_plan(shop: Shop, standin, page, tmp_path):
    from playwright.async_api import expect

    chat = WebChat(page, standin.web_chat_url)
    bot_says, say, tap = chat.bot_says, chat.say, chat.tap

    # The admin creates WEB10: 10 % off every plan.
    await chat.open_as(ADMIN)
    await say("/admin")
    await tap("Admin console", "🏷 Promo codes")
    await tap("Promo codes", "➕ New code")
    await expect(bot_says("Send the new code")).to_be_visible()
    await say("web10")
    await tap("What does it give?", "% Percent off")
    await expect(bot_says("How many percent off?")).to_be_visible()
    await say("10")
    await tap("New code WEB10", "✅ Create the code")
    await expect(bot_says("Code WEB10 created")).to_contain_text("Uses: 0 of no limit")
    await page.screenshot(path=str(tmp_path / "admin.png"), full_page=True)

    # A newcomer buys the 30-day plan with it, in Stars.
    await chat.open_as(BUYER)
    await say("/buy")
    await tap("Choose a plan", "🏷 I have a promo code")
    await expect(bot_says("Send your promo code")).to_be_visible()
    await say("WEB10")
    await tap("Promo code WEB10: 10% off.", "30 days — 2.70 USD (was 3.00 USD) / 135 ⭐")
    await tap("Price with code WEB10", "⭐ Telegram Stars")
    await chat.pay_invoice(135)
    await expect(bot_says("Payment of 135 ⭐ received")).to_be_visible()
    await expect(bot_says("Your VPN is ready")).to_be_visible()

    # ...buys a traffic package on top of the plan's 100 GB, in Stars.
    await say("/subscription")
    await tap("My subscription", "➕ Extra traffic")
    await tap("Extra traffic.", "10 GB — 2.50 USD / 120 ⭐")
    await tap("Your traffic limit becomes 110.0 GB", "⭐ Telegram Stars")
    await chat.pay_invoice(120)
    await expect(bot_says("10 GB of traffic added. Your traffic limit is now 110.0 GB")).to_be_visible()

    # ...and a second one as a gift.
    await say("/buy")
    await tap("Choose a plan", "30 days — 3.00 USD / 150 ⭐")
    await tap("How would you like to pay?", "🎁 Buy as a gift")
    await tap("As a gift", "⭐ Telegram Stars")
    await chat.pay_invoice(150)
    ready = bot_says("Your gift of 30 days is paid")
    await expect(ready).to_be_visible()
    link = re.search(r"https://t\.me/\w+\?start=(gift_[A-Za-z0-9_-]+)", await ready.inner_text()).group(1)
    await page.screenshot(path=str(tmp_path / "buyer.png"), full_page=True)

    # The friend opens the link (as Telegram does: /start with the link's payload) and gets the days.
    await chat.open_as(FRIEND)
    await say(f"/start {link}")
    await expect(bot_says("You received a gift: 30 days")).to_be_visible()
    await expect(bot_says("Your VPN is ready")).to_be_visible()
    await page.screenshot(path=str(tmp_path / "friend.png"), full_page=True)

    await chat.open_as(BUYER)
    await expect(bot_says("Fay has redeemed your gift of 30 days")).to_be_visible()
    assert await shop.db.fetchval("SELECT count(*) FROM promo_uses") == 1
    assert await shop.db.fetchval("SELECT extra_traffic_bytes FROM subscriptions WHERE user_id = $1",
                                  BUYER.id) == 10 * 1024 ** 3
