"""Debian's Chromium under Playwright for the bot's browser tests (the web chat of the stand-in)."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

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
