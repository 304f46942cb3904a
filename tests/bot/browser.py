"""The bot's browser tests: their page (tests/support/browser.py), and the web chat of the
stand-in as a person uses it there."""
from __future__ import annotations

import pytest

from sandbox.webchat import Persona
from tests.support.browser import browser_page


@pytest.fixture(name="page")
async def page_fixture():
    """A browser page for the test, tall enough for the screenshots a person looks at; JavaScript
    errors fail the test. Import it where a test uses `page`."""
    async with browser_page(viewport={"width": 1280, "height": 1000}) as (opened, _):
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
