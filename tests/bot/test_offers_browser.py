"""Issue 12's acceptance in the web chat, in a real headless Chromium: with the real bot, payments
and vpn_gateway behind the stand-ins, the admin creates a promo code, a newcomer buys a plan with
it (Stars, the invoice's Pay button), buys a traffic package on top of its 100 GB, buys a second
plan as a gift, and a friend opens the gift link and gets the days. The panel is Remnawave (a
traffic limit that lasts, so packages are offered). A screenshot of each chat is kept with the
test's files."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from sandbox.telegram import TelegramStandIn
from sandbox.webchat import Persona, WebChatConfig
from tests.bot.browser import browser_page
from tests.bot.conftest import ADMIN_ID, TOKEN, record_callback_queries
from tests.bot.offers_support import Shop, shop_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser
SHOP_PANEL = "remnawave"     # offers_support.shop_fixture: the panel behind vpn_gateway
BUYER, FRIEND = 15001, 15002


@pytest.fixture
async def standin() -> AsyncIterator[TelegramStandIn]:
    personas = (Persona(id=ADMIN_ID, first_name="Ada", label="Admin"), Persona(id=BUYER, first_name="Bea"),
                Persona(id=FRIEND, first_name="Fay"))
    stand_in = TelegramStandIn(token=TOKEN, web_chat=WebChatConfig(personas=personas))
    await stand_in.start()
    yield stand_in
    record_callback_queries(await stand_in.callback_queries())
    await stand_in.stop()


@pytest.fixture
async def page():
    async with browser_page() as opened:
        yield opened


async def test_a_newcomer_buys_with_an_admins_code_and_gifts_a_plan(shop: Shop, standin, page, tmp_path):
    from playwright.async_api import expect

    def bot_says(text: str):
        return page.locator(".msg.from-bot").filter(has_text=text).last

    async def say(text: str) -> None:
        await page.locator("#text").fill(text)
        await page.locator("#text").press("Enter")

    async def tap(message, label: str) -> None:
        await message.get_by_role("button", name=label, exact=True).click()

    # The admin creates WEB10: 10 % off every plan.
    await page.goto(f"{standin.web_chat_url}?user={ADMIN_ID}&name=Ada&lang=en")
    await say("/admin")
    await tap(bot_says("Admin console"), "🏷 Promo codes")
    await tap(bot_says("Promo codes"), "➕ New code")
    await expect(bot_says("Send the new code")).to_be_visible()
    await say("web10")
    await tap(bot_says("What does it give?"), "% Percent off")
    await expect(bot_says("How many percent off?")).to_be_visible()
    await say("10")
    await tap(bot_says("New code WEB10"), "✅ Create the code")
    await expect(bot_says("Code WEB10 created")).to_contain_text("Uses: 0 of no limit")
    await page.screenshot(path=str(tmp_path / "admin.png"), full_page=True)

    # A newcomer buys the 30-day plan with it, in Stars.
    await page.goto(f"{standin.web_chat_url}?user={BUYER}&name=Bea&lang=en")
    await say("/buy")
    await tap(bot_says("Choose a plan"), "🏷 I have a promo code")
    await expect(bot_says("Send your promo code")).to_be_visible()
    await say("WEB10")
    await tap(bot_says("Promo code WEB10: 10% off."), "30 days — 2.70 USD (was 3.00 USD) / 135 ⭐")
    await tap(bot_says("Price with code WEB10"), "⭐ Telegram Stars")
    invoice = page.locator(".msg").filter(has=page.locator(".invoice")).last
    await expect(invoice.locator(".invoice-amount")).to_contain_text("135")
    await invoice.get_by_role("button").first.click()
    await expect(bot_says("Payment of 135 ⭐ received")).to_be_visible()
    await expect(bot_says("Your VPN is ready")).to_be_visible()

    # ...buys a traffic package on top of the plan's 100 GB, in Stars.
    await say("/subscription")
    await tap(bot_says("My subscription"), "➕ Extra traffic")
    await tap(bot_says("Extra traffic."), "10 GB — 2.50 USD / 120 ⭐")
    await tap(bot_says("Your traffic limit becomes 110.0 GB"), "⭐ Telegram Stars")
    invoice = page.locator(".msg").filter(has=page.locator(".invoice")).last
    await expect(invoice.locator(".invoice-amount")).to_contain_text("120")
    await invoice.get_by_role("button").first.click()
    await expect(bot_says("10 GB of traffic added. Your traffic limit is now 110.0 GB")).to_be_visible()

    # ...and a second one as a gift.
    await say("/buy")
    await tap(bot_says("Choose a plan"), "30 days — 3.00 USD / 150 ⭐")
    await tap(bot_says("How would you like to pay?"), "🎁 Buy as a gift")
    await tap(bot_says("As a gift"), "⭐ Telegram Stars")
    invoice = page.locator(".msg").filter(has=page.locator(".invoice")).last
    await expect(invoice.locator(".invoice-amount")).to_contain_text("150")
    await invoice.get_by_role("button").first.click()
    ready = bot_says("Your gift of 30 days is paid")
    await expect(ready).to_be_visible()
    link = re.search(r"https://t\.me/\w+\?start=(gift_[A-Za-z0-9_-]+)", await ready.inner_text()).group(1)
    await page.screenshot(path=str(tmp_path / "buyer.png"), full_page=True)

    # The friend opens the link (as Telegram does: /start with the link's payload) and gets the days.
    await page.goto(f"{standin.web_chat_url}?user={FRIEND}&name=Fay&lang=en")
    await say(f"/start {link}")
    await expect(bot_says("You received a gift: 30 days")).to_be_visible()
    await expect(bot_says("Your VPN is ready")).to_be_visible()
    await page.screenshot(path=str(tmp_path / "friend.png"), full_page=True)

    await page.goto(f"{standin.web_chat_url}?user={BUYER}&name=Bea&lang=en")
    await expect(bot_says("Fay has redeemed your gift of 30 days")).to_be_visible()
    assert await shop.db.fetchval("SELECT count(*) FROM promo_uses") == 1
    assert await shop.db.fetchval("SELECT extra_traffic_bytes FROM subscriptions WHERE user_id = $1",
                                  BUYER) == 10 * 1024 ** 3
