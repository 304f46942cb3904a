"""Per-user flood throttling: a token bucket per user; one polite notice, then silence.

In memory on purpose: it protects this process (and its pool) from one person's flood, and a
restart forgetting the buckets costs nothing. Payment updates are never throttled.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from services.bot.notices import never_held_back, tell, translator_for


class _Bucket:
    __slots__ = ("tokens", "stamp", "noticed")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp
        self.noticed = False


class Throttle(BaseMiddleware):
    def __init__(self, rate: float, burst: int, *, max_users: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_users = max_users
        self._clock = clock
        self._buckets: OrderedDict[int, _Bucket] = OrderedDict()

    def take(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, tell_them): tell_them is true only for the first refusal of a flood."""
        now = self._clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = _Bucket(self.burst, now)
            if len(self._buckets) > self.max_users:
                self._buckets.popitem(last=False)  # the least recently seen user
        else:
            self._buckets.move_to_end(user_id)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.noticed = False
            return True, False
        first = not bucket.noticed
        bucket.noticed = True
        return False, first

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        if user is None or not isinstance(event, Update) or never_held_back(event):
            return await handler(event, data)
        allowed, tell_them = self.take(user.id)
        if allowed:
            return await handler(event, data)
        if tell_them:
            t = translator_for(data)
            await tell(event, data, t("throttle.notice"))
        return None
