"""Best-effort "look now" to the bot after notification rows are committed.

Nudges are coalesced: however many rows finish at once, at most one call is in flight and one
more follows it. A failed nudge is dropped; the bot's periodic scan finds the rows anyway.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Nudger:
    def __init__(self, call: Callable[[], Awaitable[object]]) -> None:
        self._call = call
        self._wanted = False
        self._task: asyncio.Task | None = None
        self.sent = 0

    def request(self) -> None:
        self._wanted = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._send(), name="nudge")

    async def _send(self) -> None:
        while self._wanted:
            self._wanted = False
            try:
                await self._call()
                self.sent += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - best effort by design
                log.debug("nudge not delivered", extra={"error": str(exc)})

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
