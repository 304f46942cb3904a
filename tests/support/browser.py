"""Debian's Chromium under Playwright, for the tests that use the stand-in's web chat as a person
would (tests/sandbox, tests/bot)."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@asynccontextmanager
async def browser_page(timeout_ms: int = 30_000, *, console_errors: bool = False,
                       viewport: dict[str, int] | None = None) -> AsyncIterator[tuple[Any, list[str]]]:
    """(page, errors): a page of a fresh browser and the JavaScript errors it logged (with
    `console_errors`, console.error lines too); any error fails the test at the end."""
    if not CHROMIUM.exists():
        if os.geteuid() == 0:
            pytest.fail(f"{CHROMIUM} is missing; scripts/test.sh installs Debian's chromium when run as root")
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (as root: apt-get install chromium; "
                    "scripts/test.sh does it in CI)")
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=timeout_ms)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(**({"viewport": viewport} if viewport else {}))
            context.set_default_timeout(timeout_ms)
            errors: list[str] = []
            page = await context.new_page()
            page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
            if console_errors:
                page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
            yield page, errors
            assert not errors, errors
        finally:
            await browser.close()
