"""The admin chart in the web chat, in a real headless Chromium (issue 11, item 6 acceptance): the
real bot and the real scheduler behind the Telegram stand-in; the admin opens the statistics, taps
the chart and sees the picture (dated axis, legend, totals) with its caption. A screenshot of the
chat is kept with the test's files (chat-with-chart.png) for a person to look at."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from sandbox.webchat import Persona
from tests.bot.admin_support import seed_purchase, seed_user
from tests.bot.browser import WebChat, page_fixture  # noqa: F401 - the page fixture
from tests.bot.conftest import ADMIN_ID, ServiceInProcess

pytestmark = pytest.mark.browser
ADMIN = Persona(id=ADMIN_ID, first_name="Ada", language_code="en", label="Admin")
WEB_CHAT_PERSONAS = (ADMIN,)   # conftest.standin serves the web chat with the admin as a persona


@pytest.fixture
async def services(start_bot, tmp_path, matplotlib_config):
    from services.scheduler.settings import Settings
    from services.scheduler.app import setup

    await start_bot(ATCS_EXPORT_DIR=str(tmp_path / "exports"), ATCS_BACKUP_DIR=str(tmp_path / "backups"),
                    ATCS_BACKUP_ENABLED="false", ATCS_SCHEDULER_NICE="0")
    scheduler = ServiceInProcess("scheduler", Settings.read(), setup)
    await scheduler.start()
    yield
    await scheduler.stop()


async def test_the_admin_sees_the_chart_in_the_web_chat(services, standin, database_url, page, tmp_path):
    import asyncpg
    from playwright.async_api import expect

    conn = await asyncpg.connect(database_url)
    try:
        await seed_user(conn, 8801, created_days_ago=3, trial_days_ago=3)
        await seed_purchase(conn, 8801, amount="8.00", currency="USD", method="cryptobot", paid_days_ago=1)
        await seed_purchase(conn, 8801, amount="150", currency="XTR", method="stars")
    finally:
        await conn.close()

    chat = WebChat(page, standin.web_chat_url)
    await chat.open_as(ADMIN)
    await chat.say("/admin")
    await chat.tap("Admin console", "📊 Statistics")
    await chat.tap("Statistics", "📈 Chart of the last 30 days")

    photo = page.locator("img.photo")
    await expect(photo).to_be_visible()
    await expect(photo).to_have_js_property("naturalWidth", 1200)   # loaded, at the scheduler's size
    caption = page.locator(".msg", has=photo).locator(".caption")
    await expect(caption).to_contain_text("New users: 2 · trials started: 1 · payments: 2")
    await expect(caption).to_contain_text("Revenue: 8.00 USD, 150 ⭐")

    # The picture the page shows is the scheduler's PNG: light, inked, the announced size.
    response = await page.request.get(await photo.get_attribute("src"))
    picture = Image.open(io.BytesIO(await response.body())).convert("RGB")
    assert picture.size == (1200, 1170) and picture.getpixel((2, 2)) == (255, 255, 255)
    assert len(picture.getcolors(maxcolors=1 << 20)) > 50

    await photo.scroll_into_view_if_needed()
    await page.screenshot(path=str(tmp_path / "chat-with-chart.png"), full_page=True)
