"""A request refused with 429 is sent again after retry_after: aiogram does not retry by itself.

Bounded twice: a few attempts, and no more than `max_wait` seconds waited in total, so a handler
or the sender is never parked for minutes; past that the TelegramRetryAfter reaches the caller
(the sender then reschedules its row for retry_after later).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import GetUpdates, TelegramMethod

log = logging.getLogger(__name__)


class RetryAfterMiddleware(BaseRequestMiddleware):
    def __init__(self, max_wait: float = 30.0, attempts: int = 4) -> None:
        self.max_wait = max_wait
        self.attempts = attempts

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Any,
                       method: TelegramMethod[Any]) -> Any:
        if isinstance(method, GetUpdates):
            # Polling has its own backoff; sleeping here would only delay shutdown.
            return await make_request(bot, method)
        waited = 0.0
        attempt = 1
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt >= self.attempts or waited + exc.retry_after > self.max_wait:
                    raise
                log.warning("telegram flood control: waiting before sending again",
                            extra={"method": type(method).__name__, "retry_after": exc.retry_after,
                                   "attempt": attempt})
                await asyncio.sleep(exc.retry_after)
                waited += exc.retry_after
                attempt += 1
