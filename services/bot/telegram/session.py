"""The Bot object: Bot API URL and request timeout from config, HTML by default, 429 retried."""
from __future__ import annotations

import orjson
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from services.bot.settings import Settings
from services.bot.telegram.retry_after import RetryAfterMiddleware


def build_bot(settings: Settings, token: str) -> Bot:
    """Raises aiogram's TokenValidationError for a malformed token (the caller reports it)."""
    telegram = settings.telegram
    # orjson (already a dependency) for every Bot API request and answer: the stdlib json was a
    # tenth of the bot's CPU per update (bench/bench_capacity.py).
    session = AiohttpSession(api=TelegramAPIServer.from_base(telegram.telegram_api_url),
                             timeout=telegram.request_timeout, json_loads=orjson.loads, json_dumps=_dumps)
    session.middleware(RetryAfterMiddleware(max_wait=settings.bot.bot_retry_after_max))
    return Bot(token=token, session=session,
               default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True))


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()
