"""Fixtures of the sandbox's tests. `standin` here is the Telegram stand-in (a panel's test that
needs another stand-in names its own fixture in its module, which takes precedence)."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot

from sandbox.telegram import TelegramStandIn
from tests.support.http import client_session
from tests.support.telegram_bot import loopback_bot


@pytest.fixture
async def standin() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn() as stand_in:
        yield stand_in


@pytest.fixture
async def bot(standin: TelegramStandIn) -> AsyncIterator[Bot]:
    """An aiogram Bot on the stand-in's Bot API."""
    client = loopback_bot(standin)
    yield client
    await client.session.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for the stand-ins' APIs, every request bounded."""
    async with client_session() as client:
        yield client
