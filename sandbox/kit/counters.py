"""Count the requests a stand-in receives, per route.

Tests assert on what the services really sent ("exactly one create per
purchase, even after retries"), so counting happens before fault injection:
a request that hit an injected 503 or a dropped connection still counts as
an attempt.
"""

from __future__ import annotations

from collections import Counter
from typing import Awaitable, Callable, Optional

from aiohttp import web


class RequestCounters:
    def __init__(self) -> None:
        self._by_route: Counter[str] = Counter()

    def hit(self, key: str) -> None:
        self._by_route[key] += 1

    def count(self, key: str) -> int:
        return self._by_route[key]

    def snapshot(self) -> dict[str, int]:
        return dict(self._by_route)

    def clear(self) -> None:
        self._by_route.clear()


def counting_middleware(counters: RequestCounters, route_key: Callable[[web.Request], Optional[str]]):
    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        key = route_key(request)
        if key is not None:
            counters.hit(key)
        return await handler(request)

    return middleware
