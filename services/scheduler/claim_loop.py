"""The loop of the leader's one-job-at-a-time workers (broadcasts, exports): claim the next job
and work on it, or sleep until a wake-up on the worker's topic or the rescan timer. When the
database goes away the worker waits for it and carries on; nothing is lost, the job is a row."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from common.db.database import Database, DatabaseUnavailable
from services.scheduler.wakeups import Wakeups

log = logging.getLogger(__name__)
Job = TypeVar("Job")

# DatabaseUnavailable also means "every pool connection busy", when the database stays ready and
# wait_ready() returns at once: the pause keeps the worker from spinning on it.
UNAVAILABLE_PAUSE = 0.5


async def claim_and_process(db: Database, wakeups: Wakeups, topic: str, rescan: float,
                            claim: Callable[[], Awaitable[Job | None]],
                            process: Callable[[Job], Awaitable[None]], *,
                            keep_going: Callable[[], bool] = lambda: True) -> None:
    """Runs until `keep_going()` is false (checked before each claim)."""
    while keep_going():
        try:
            job = await claim()
            if job is None:
                await wakeups.wait(topic, rescan)
                continue
            await process(job)
        except DatabaseUnavailable as exc:
            log.warning("worker waits for the database", extra={"worker": topic, "error": str(exc)})
            await db.wait_ready()
            await asyncio.sleep(UNAVAILABLE_PAUSE)
