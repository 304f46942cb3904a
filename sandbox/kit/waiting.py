"""Wait for a condition to become true, with a deadline.

Tests and control endpoints must never sleep to "give things time". Whoever
changes state calls ``notify()``; whoever waits re-checks its predicate each
time and gives up at the deadline.
"""

from __future__ import annotations

import asyncio
from typing import Callable


class Notifier:
    def __init__(self) -> None:
        self._condition = asyncio.Condition()

    async def notify(self) -> None:
        async with self._condition:
            self._condition.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Return True as soon as ``predicate()`` holds, False if the deadline passes first."""
        async with self._condition:
            try:
                await asyncio.wait_for(self._condition.wait_for(predicate), timeout)
            except asyncio.TimeoutError:
                return predicate()
        return True
