"""Charts on request: the numbers read on the event loop, the picture drawn by a worker thread,
the result kept for a minute.

Drawing is about a second of CPU: on the loop it would stall every RPC and the leader's jobs.
One thread, not a pool: renders queue behind each other (an admin chart is rare) and
matplotlib's global state (font cache, rcParams) is never touched by two threads at once.
Concurrent requests for the same chart share one render; a retry after a timeout finds it done.

matplotlib is imported by that thread on the first chart, so the scheduler starts as fast as
without it and a scheduler that never draws never loads it. matplotlib keeps a font cache in
MPLCONFIGDIR (default ~/.config/matplotlib); a service user's HOME is often missing or read-only,
and then matplotlib warns and rebuilds the cache in a new temp folder on every start. Unless the
operator set MPLCONFIGDIR, ours is var/matplotlib, or one private temp folder for the process
when var/ cannot be written.
"""
from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from common.paths import REPO_ROOT
from common.contract.scheduler import Chart
from common.db.database import Database
from services.scheduler.repositories import daily_stats
from services.scheduler.repositories.daily_stats import DailyStats

log = logging.getLogger(__name__)
CACHE_SECONDS = 60.0
DEFAULT_CONFIG_DIR = REPO_ROOT / "var" / "matplotlib"
ChartKey = tuple[int, str]     # (days, locale): everything that changes the picture


class ChartRenderer:
    def __init__(self, db: Database, *, config_dir: Path = DEFAULT_CONFIG_DIR, ttl: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.config_dir = config_dir
        self.ttl = ttl
        self._clock = clock
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chart")
        self._cache: dict[ChartKey, tuple[float, Chart]] = {}
        self._running: dict[ChartKey, asyncio.Task[Chart]] = {}
        self.renders = 0
        self.last_render_seconds: float | None = None

    async def chart(self, days: int, locale: str) -> Chart:
        key = (days, locale)
        cached = self._cache.get(key)
        if cached is not None and self._clock() < cached[0]:
            return cached[1]
        task = self._running.get(key)
        if task is None:
            task = asyncio.create_task(self._render(key), name=f"chart:{days}:{locale}")
            self._running[key] = task
            task.add_done_callback(partial(self._finished, key))
        # Shielded: a caller that gives up (its RPC deadline) leaves the render to finish for the next.
        return await asyncio.shield(task)

    def _finished(self, key: ChartKey, task: asyncio.Task[Chart]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled() and task.exception() is not None:
            log.warning("chart not rendered", extra={"error": repr(task.exception())})

    async def _render(self, key: ChartKey) -> Chart:
        days, locale = key
        async with self.db.acquire() as conn:
            stats = await daily_stats.fetch(conn, days)
        started = time.monotonic()
        picture = await asyncio.get_running_loop().run_in_executor(
            self._thread, draw_png, stats, locale, self.config_dir)
        self.last_render_seconds = round(time.monotonic() - started, 3)
        self.renders += 1
        chart = Chart(png=picture, first_day=stats.days[0], last_day=stats.days[-1],
                      new_users=sum(stats.new_users), trials=sum(stats.trials), payments=sum(stats.payments),
                      revenue={currency: stats.revenue_total(currency) for currency in stats.revenue},
                      rendered_at=datetime.now(timezone.utc))
        now = self._clock()
        self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        self._cache[key] = (now + self.ttl, chart)
        return chart

    def describe(self) -> dict[str, Any]:
        return {"renders": self.renders, "cached": len(self._cache), "rendering": len(self._running),
                "last_render_seconds": self.last_render_seconds}

    def close(self) -> None:
        for task in self._running.values():
            task.cancel()
        self._thread.shutdown(wait=False, cancel_futures=True)


def draw_png(stats: DailyStats, locale: str, config_dir: Path) -> bytes:
    """Runs in the worker thread. The first call imports matplotlib."""
    if not os.environ.get("MPLCONFIGDIR"):
        os.environ["MPLCONFIGDIR"] = str(writable_dir(config_dir))
    from services.scheduler.charts import figure
    return figure.png(stats, locale)


def writable_dir(preferred: Path) -> Path:
    """`preferred` (made 0700 if missing) when this process can write there, else a private temp folder."""
    try:
        preferred.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.access(preferred, os.W_OK | os.X_OK):
            return preferred
    except OSError:
        pass
    fallback = Path(tempfile.mkdtemp(prefix="atcs-matplotlib-"))
    log.warning("matplotlib's cache folder is not writable; using a temp folder for this process",
                extra={"wanted": str(preferred), "using": str(fallback)})
    return fallback
