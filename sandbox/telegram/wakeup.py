"""Wake-ups for long polls and waits: tasks sleep until state changes, never on a fixed timer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Wakeup:
    """A broadcast "something changed" signal that can be fired from synchronous code.

    asyncio.Condition needs its lock held to notify, which would force every state mutation to be
    async. Swapping in a fresh Event on each fire gives the same broadcast without that.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait_for(self, probe: Callable[[], T | None], timeout: float) -> T | None:
        """Return the first non-None value of `probe()`, re-checked after each fire; None on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            # Take the event before probing so a fire between probe and wait is not missed.
            event = self._event
            value = probe()
            if value is not None:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                return probe()
