"""The web chat in a real headless Chromium (Debian's package): a person talks to a real aiogram bot
through the Telegram stand-in as in a Telegram client — messages, inline keyboards, edits, a user
switch, documents and photos, a Stars invoice with a Pay button, a Stars subscription renewed and
charged back from the Stars panel, a Crypto Bot invoice link."""

from __future__ import annotations

import asyncio
import html
import re
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
)

from sandbox.cryptopay.standin import CryptoPayStandIn
from sandbox.telegram import TelegramStandIn
from sandbox.webchat import Persona, WebChatConfig
from tests.support.browser import browser_page
from tests.support.telegram_bot import loopback_bot

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000
ANN = 5001
ADMIN = 777_000
CRYPTO_TOKEN = "4321:webchatCryptoToken"


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def keyboard(*rows: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=list(rows))


def button(text: str, data: str) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=text, callback_data=data)]


# --- the bot: a few handlers, as the real one uses them ----------------------------------------


def bot_router(crypto: CryptoPayStandIn) -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        name = html.escape(message.from_user.first_name)
        await message.answer(f"Hello, <b>{name}</b>! Pick one:",
                             reply_markup=keyboard(button("Trial", "trial"), button("Buy with Stars", "stars"),
                                                   button("Dismiss", "dismiss")))

    @router.callback_query(F.data == "trial")
    async def trial(query: CallbackQuery) -> None:
        await query.answer("Trial started")
        await query.message.edit_text("Trial is on ✅")
        await query.message.answer(f"Key for {query.from_user.id}: <code>ss://demo-key</code>")

    @router.callback_query(F.data == "dismiss")
    async def dismiss(query: CallbackQuery) -> None:
        await query.answer()
        await query.message.delete()

    @router.callback_query(F.data == "stars")
    async def stars(query: CallbackQuery, bot: Bot) -> None:
        await query.answer()
        await bot.send_invoice(query.from_user.id, title="30 days", description="VPN for a month", payload="plan-30",
                               currency="XTR", prices=[LabeledPrice(label="30 days", amount=50)])

    @router.pre_checkout_query()
    async def pre_checkout(query: PreCheckoutQuery) -> None:
        await query.answer(ok=True)

    @router.message(F.successful_payment)
    async def paid(message: Message) -> None:
        await message.answer(f"Thanks! {message.successful_payment.total_amount} stars received.")

    @router.message(Command("files"))
    async def files(message: Message) -> None:
        await message.answer_document(BufferedInputFile(b"id,days\n1,30\n", filename="export.csv"))
        await message.answer_photo(BufferedInputFile(png(4, 3), filename="qr.png"), caption="Scan <me>",
                                   parse_mode=None)
        await message.answer('<b>bold</b> &lt;img src=x onerror="window.pwned=1"&gt; '
                             '<a href="https://example.com/docs">docs</a> <a href="javascript:window.pwned=2">bad</a>'
                             " see /help")

    @router.message(Command("subscribe"))
    async def subscribe(message: Message, bot: Bot) -> None:
        link = await bot.create_invoice_link(title="Monthly", description="VPN every month", payload="plan-sub",
                                             currency="XTR", prices=[LabeledPrice(label="month", amount=40)],
                                             subscription_period=2592000)
        await message.answer("Subscribe for 40 stars a month:", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text="Subscribe ⭐️40", url=link)]]))

    @router.message(Command("help"))
    async def help_(message: Message) -> None:
        await message.answer("Help is here")

    @router.message(Command("crypto"))
    async def crypto_invoice(message: Message) -> None:
        async with aiohttp.ClientSession(headers={"Crypto-Pay-API-Token": CRYPTO_TOKEN}) as http:
            body = {"currency_type": "fiat", "fiat": "USD", "amount": "5", "description": "30 days"}
            async with http.post(f"{crypto.api_url}/createInvoice", json=body) as response:
                invoice = (await response.json())["result"]
        await message.answer("Pay 5 USD with Crypto Bot:", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text="Pay with Crypto Bot", url=invoice["bot_invoice_url"])]]))

    return router


@dataclass
class World:
    telegram: TelegramStandIn
    crypto: CryptoPayStandIn


@dataclass
class Chat:
    """The browser page, with the errors it logged."""

    page: object
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    web_chat = WebChatConfig(personas=(Persona(id=ADMIN, first_name="Boss", language_code="en", label="Admin"),))
    # Generous flood limits: this test is about the page, not about 429s.
    telegram = TelegramStandIn(web_chat=web_chat, limits={"chat_rate": 50, "chat_burst": 50})
    crypto = CryptoPayStandIn(token=CRYPTO_TOKEN)
    async with telegram, crypto:
        bot = loopback_bot(telegram, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        dispatcher = Dispatcher()
        dispatcher.include_router(bot_router(crypto))
        polling = asyncio.create_task(
            dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1))
        try:
            yield World(telegram, crypto)
        finally:
            try:
                await dispatcher.stop_polling()
            except RuntimeError:  # polling never got going
                polling.cancel()
            await asyncio.wait([polling], timeout=10)
            await bot.session.close()


@pytest.fixture
async def chat(world: World) -> AsyncIterator[Chat]:
    async with browser_page(TIMEOUT_MS, console_errors=True) as (page, errors):
        yield Chat(page, errors)


async def open_chat(chat: Chat, world: World, query: str = "") -> None:
    await chat.page.goto(f"{world.telegram.web_chat_url}{query}")


async def send(chat: Chat, text: str) -> None:
    await chat.page.locator("#text").fill(text)
    await chat.page.locator("#text").press("Enter")


def bot_messages(chat: Chat):
    return chat.page.locator(".msg.from-bot")


# --- the acceptance test -----------------------------------------------------------------------


async def test_start_tap_a_button_and_see_the_reply(chat: Chat, world: World) -> None:
    from playwright.async_api import expect

    page = chat.page
    await open_chat(chat, world, f"?user={ANN}&name=Ann&lang=en")
    await expect(page.locator("#who")).to_contain_text(str(ANN))
    await send(chat, "/start")
    await expect(page.locator(".msg.from-user")).to_have_text(re.compile(r"^/start"))
    greeting = bot_messages(chat).filter(has_text="Hello, Ann! Pick one:")
    await expect(greeting).to_have_count(1)
    await expect(greeting.locator(".text b")).to_have_text("Ann")  # the bot's <b> as an element

    await greeting.get_by_role("button", name="Trial", exact=True).click()
    edited = bot_messages(chat).filter(has_text="Trial is on ✅")
    await expect(edited).to_have_count(1)
    await expect(edited.locator(".edited")).to_be_visible()
    await expect(page.get_by_text("Hello, Ann")).to_have_count(0)  # edited in place, not added
    key = bot_messages(chat).filter(has_text=f"Key for {ANN}")
    await expect(key.locator("code")).to_have_text("ss://demo-key")
    await expect(page.locator("#toast")).to_have_text("Trial started")  # answerCallbackQuery's text

    # The page is only a client: the stand-in saw a real callback query, answered in time.
    queries = await world.telegram.callback_queries()
    assert [(q["data"], q["answered_within_window"]) for q in queries] == [("trial", True)]
    transcript = await world.telegram.transcript(ANN)
    assert edited_id(transcript) == await edited.get_attribute("data-message-id")

    # A message the bot deletes disappears, the rest stays in order.
    await send(chat, "/start")
    again = bot_messages(chat).filter(has_text="Hello, Ann! Pick one:")
    await again.get_by_role("button", name="Dismiss").click()
    await expect(again).to_have_count(0)
    texts = [text.split("\n")[0] for text in await page.locator(".msg .text").all_inner_texts()]
    assert texts == ["/start", "Trial is on ✅", f"Key for {ANN}: ss://demo-key", "/start"]
    assert not chat.errors, chat.errors


def edited_id(transcript: list[dict]) -> str:
    return str(next(m["message_id"] for m in transcript if m["text"] == "Trial is on ✅"))


async def test_switching_the_user_id_shows_a_separate_chat(chat: Chat, world: World) -> None:
    from playwright.async_api import expect

    page = chat.page
    await open_chat(chat, world, f"?user={ANN}&name=Ann")
    await send(chat, "/start")
    await expect(bot_messages(chat).filter(has_text="Hello, Ann!")).to_have_count(1)

    await page.locator("#identity-panel summary").click()
    await page.locator("#user-id").fill("7002")
    await page.locator("#first-name").fill("Olga")
    await page.locator("#language").fill("ru")
    await page.locator("#switch").click()
    await expect(page.locator("#who")).to_contain_text("7002")
    await expect(page.locator(".msg")).to_have_count(0)
    await expect(page.locator("#empty")).to_be_visible()
    await send(chat, "/start")
    await expect(bot_messages(chat).filter(has_text="Hello, Olga!")).to_have_count(1)
    await expect(page.get_by_text("Hello, Ann!")).to_have_count(0)
    olga = world.telegram.world.users[7002]
    assert (olga.first_name, olga.language_code) == ("Olga", "ru")

    # One click acts as the admin persona the page was configured with.
    await page.locator(".persona", has_text="Admin").click()
    await expect(page.locator("#who")).to_contain_text(str(ADMIN))
    await expect(page.locator(".msg")).to_have_count(0)
    await send(chat, "/start")
    await expect(bot_messages(chat).filter(has_text="Hello, Boss!")).to_have_count(1)

    # Back to the first user: that chat is still there, and only that one.
    await page.locator("#user-id").fill(str(ANN))
    await page.locator("#first-name").fill("Ann")
    await page.locator("#switch").click()
    await expect(bot_messages(chat).filter(has_text="Hello, Ann!")).to_have_count(1)
    await expect(page.get_by_text("Hello, Boss!")).to_have_count(0)
    assert f"user={ANN}" in page.url  # a reload keeps acting as the same user
    assert not chat.errors, chat.errors


async def test_a_stars_invoice_is_paid_with_its_pay_button(chat: Chat, world: World) -> None:
    from playwright.async_api import expect

    page = chat.page
    await open_chat(chat, world, f"?user={ANN}&name=Ann")
    await send(chat, "/start")
    await page.get_by_role("button", name="Buy with Stars", exact=True).click()
    invoice = page.locator(".msg.from-bot", has=page.locator(".invoice"))
    await expect(invoice.locator(".invoice-title")).to_have_text("30 days")
    await expect(invoice.locator(".invoice-amount")).to_contain_text("⭐️50")

    await invoice.get_by_role("button", name="Pay ⭐️50").click()
    await expect(page.locator(".msg.service")).to_have_text("You paid ⭐️50")
    await expect(bot_messages(chat).filter(has_text="Thanks! 50 stars received.")).to_have_count(1)
    await expect(invoice.locator(".paid-badge")).to_have_text("Paid")
    await expect(invoice.locator(".kb-pay")).to_be_disabled()
    transactions = await world.telegram.star_transactions()
    assert [(t["amount"], t["source"]["invoice_payload"]) for t in transactions] == [(50, "plan-30")]
    assert not chat.errors, chat.errors


async def test_documents_photos_and_untrusted_text(chat: Chat, world: World) -> None:
    from playwright.async_api import expect

    page = chat.page
    await open_chat(chat, world, f"?user={ANN}")
    await send(chat, "/files")
    document = page.locator("a.document")
    await expect(document).to_contain_text("export.csv")
    response = await page.request.get(await document.get_attribute("href"))
    assert response.ok and await response.body() == b"id,days\n1,30\n"

    photo = page.locator("img.photo")
    await expect(photo).to_be_visible()
    await page.wait_for_function("document.querySelector('img.photo').naturalWidth === 4")
    await expect(page.locator(".msg", has=photo).locator(".caption")).to_have_text("Scan <me>")

    text = bot_messages(chat).filter(has_text="bold").locator(".text")
    await expect(text.locator("b")).to_have_text("bold")
    await expect(text).to_contain_text('<img src=x onerror="window.pwned=1">')  # shown, not run
    await expect(text.locator("img")).to_have_count(0)
    docs = text.get_by_role("link", name="docs")
    await expect(docs).to_have_attribute("href", "https://example.com/docs")
    await expect(docs).to_have_attribute("target", "_blank")
    await expect(text.locator("a", has_text="bad")).to_have_count(0)  # javascript: never becomes a link
    assert await page.evaluate("window.pwned === undefined")

    # A /command in the bot's text is clickable and sends it, as in Telegram.
    await text.locator(".command", has_text="/help").click()
    await expect(bot_messages(chat).filter(has_text="Help is here")).to_have_count(1)
    assert not chat.errors, chat.errors


async def test_a_crypto_bot_invoice_link_opens_the_pay_page(chat: Chat, world: World) -> None:
    from playwright.async_api import expect

    page = chat.page
    await open_chat(chat, world, f"?user={ANN}")
    await send(chat, "/crypto")
    link = page.get_by_role("link", name="Pay with Crypto Bot")
    await expect(link).to_have_attribute("href", re.compile(rf"^{re.escape(world.crypto.url)}/pay/"))
    async with page.context.expect_page() as opened:
        await link.click()
    pay_page = await opened.value
    await pay_page.locator("#pay").click()
    await expect(pay_page.locator("#result")).to_have_text("Paid. Thank you!")
    assert [i["status"] for i in world.crypto.invoices()] == ["paid"]
    assert not chat.errors, chat.errors


async def test_a_stars_subscription_is_renewed_now_and_charged_back_from_the_stars_panel(chat: Chat,
                                                                                        world: World) -> None:
    from playwright.async_api import expect

    page = chat.page
    await open_chat(chat, world, f"?user={ANN}&name=Ann")
    await send(chat, "/subscribe")
    offer = bot_messages(chat).filter(has_text="Subscribe for 40 stars a month")
    await offer.get_by_role("button", name="Subscribe ⭐️40").click()
    await expect(page.locator(".msg.service").first).to_contain_text("You subscribed for ⭐️40")
    await expect(bot_messages(chat).filter(has_text="Thanks! 40 stars received.")).to_have_count(1)

    await page.locator("#stars-panel summary").click()
    panel = page.locator("#stars-subscriptions")
    await expect(panel).to_contain_text("⭐40/month · renews")
    await panel.get_by_role("button", name="Renew now").click()
    await expect(page.locator(".msg.service").nth(1)).to_contain_text("Subscription renewed: ⭐️40")
    await expect(bot_messages(chat).filter(has_text="Thanks! 40 stars received.")).to_have_count(2)
    payments = page.locator("#stars-payments")
    await expect(payments.locator("li")).to_have_count(2)

    await payments.get_by_role("button", name="Chargeback").first.click()
    await expect(page.locator(".msg.service").nth(2)).to_have_text("Refunded ⭐️40")
    await expect(payments.locator("li")).to_have_count(3)
    transactions = await world.telegram.star_transactions()
    assert [t["refund"] for t in transactions] == [False, False, True]
    assert transactions[0]["source"]["subscription_period"] == 2592000
    # No Stars left: the next renewal does not happen and the subscription ends.
    await page.locator("#stars-balance").fill("0")
    await page.locator("#stars-form button").click()
    await panel.get_by_role("button", name="Renew now").click()
    await expect(panel).to_contain_text("ended (not enough Stars)")
    assert not chat.errors, chat.errors
