"""Finishing slow requests after the handler has answered.

A handler that could not get an answer within its deadline tells the user "working on it" and
hands the rest here; the result arrives later as an edit. Bounded (a flood cannot pile up tasks),
keyed (a double tap does not start the same work twice), and cancelled on shutdown.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Followups:
    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._tasks: dict[str, asyncio.Task] = {}

    def running(self, key: str) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    def start(self, key: str, work: Coroutine[Any, Any, None]) -> bool:
        """False (and nothing started) when the same key is running or too many are."""
        if self.running(key) or len(self._tasks) >= self.limit:
            work.close()
            return False
        task = asyncio.create_task(self._guard(key, work), name=f"followup:{key}")
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))
        return True

    def _forget(self, key: str, task: asyncio.Task) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]

    async def _guard(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("follow-up failed", extra={"followup": key.split(":", 1)[0]})

    def __len__(self) -> int:
        return len(self._tasks)

    async def stop(self, timeout: float = 1.0) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        self._tasks.clear()
