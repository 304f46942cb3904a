""""Look now" for the leader's workers, by topic (broadcast, export, backup).

Fired by PostgreSQL NOTIFY, which the leader LISTENs to on its lock connection: an RPC that
wrote a job row may have reached a standby scheduler, and the notification still wakes the
leader. A lost wake-up only costs latency: every worker's loop (common/lifecycle/worker.py) also rescans
on a timer.
"""
from __future__ import annotations

import asyncio
from collections import defaultdict


class Wakeups:
    def __init__(self) -> None:
        self._events: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def fire(self, topic: str) -> None:
        self._events[topic].set()

    def event(self, topic: str) -> asyncio.Event:
        """The event a worker loop on `topic` sleeps on (common/lifecycle/worker.py)."""
        return self._events[topic]
