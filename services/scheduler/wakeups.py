""""Look now" for the leader's workers, by topic (broadcast, export, backup).

Fired by PostgreSQL NOTIFY, which the leader LISTENs to on its lock connection: an RPC that
wrote a job row may have reached a standby scheduler, and the notification still wakes the
leader. A lost wake-up only costs latency: every worker also rescans on a timer.
"""
from __future__ import annotations

import asyncio
from collections import defaultdict


class Wakeups:
    def __init__(self) -> None:
        self._events: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def fire(self, topic: str) -> None:
        self._events[topic].set()

    async def wait(self, topic: str, timeout: float) -> bool:
        """True when woken, False when `timeout` passed first."""
        event = self._events[topic]
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            event.clear()
