"""Debian's Chromium under Playwright for the bot's browser tests, and the web chat of the stand-in
as a person uses it there."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from sandbox.webchat import Persona

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000


@asynccontextmanager
async def browser_page() -> AsyncIterator:
    """A page of a fresh browser; fails the test on any JavaScript error of the page."""
    if not CHROMIUM.exists():
        if os.geteuid() == 0:
            pytest.fail(f"{CHROMIUM} is missing; scripts/test.sh installs Debian's chromium when run as root")
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM}")
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 1000})
            context.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            opened = await context.new_page()
            opened.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
            yield opened
            assert not errors, errors
        finally:
            await browser.close()


@pytest.fixture(name="page")
async def page_fixture():
    """A browser page for the test (browser_page); import it where a test uses `page`."""
    async with browser_page() as opened:
        yield opened


class WebChat:
    """The stand-in's web chat in a browser page, used as a person uses it: open it as a persona,
    type, tap a button under the bot's message that says something, pay the latest invoice."""

    def __init__(self, page, url: str) -> None:
        self.page = page
        self.url = url

    async def open_as(self, persona: Persona) -> None:
        await self.page.goto(f"{self.url}?user={persona.id}&name={persona.first_name}&lang={persona.language_code}")

    def bot_says(self, text: str):
        """The bot's latest message with `text` in it."""
        return self.page.locator(".msg.from-bot").filter(has_text=text).last

    async def say(self, text: str) -> None:
        await self.page.locator("#text").fill(text)
        await self.page.locator("#text").press("Enter")

    async def tap(self, says: str, label: str) -> None:
        await self.bot_says(says).get_by_role("button", name=label, exact=True).click()

    async def pay_invoice(self, stars: int) -> None:
        """Taps Pay on the latest invoice, once it shows its amount in Stars."""
        from playwright.async_api import expect

        invoice = self.page.locator(".msg").filter(has=self.page.locator(".invoice")).last
        await expect(invoice.locator(".invoice-amount")).to_contain_text(str(stars))
        await invoice.get_by_role("button").first.click()
