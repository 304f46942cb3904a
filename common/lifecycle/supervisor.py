"""Background tasks that are never silently dead: a crash is logged and the task restarted with backoff.

Once `drain()` was called (SIGTERM, before the drain hooks) a task that returns has finished its
work (a worker loop that drained): that is its end, not a crash, and it is neither restarted nor
kept parked until the cancel."""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)
TaskFactory = Callable[[], Awaitable[None]]


class TaskSupervisor:
    def __init__(self, on_restart: Callable[[str], None] | None = None,
                 expected: Callable[[BaseException], bool] = lambda exc: False) -> None:
        """`expected(exc)` marks failures that are the world's, not the code's (the database went
        away): logged as one warning line and retried, without a traceback that pages someone."""
        self._tasks: dict[str, asyncio.Task] = {}
        self._on_restart = on_restart
        self._expected = expected
        self._draining = asyncio.Event()
        self.last_error: str | None = None

    def start(self, name: str, factory: TaskFactory, *, restart: bool = True,
              min_backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        if name in self._tasks:
            raise ValueError(f"task {name} already supervised")
        self._tasks[name] = asyncio.create_task(self._keep(name, factory, restart, min_backoff, max_backoff), name=name)

    async def _keep(self, name: str, factory: TaskFactory, restart: bool, min_backoff: float, max_backoff: float) -> None:
        backoff = min_backoff
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await factory()
                if self._draining.is_set():
                    log.info("task finished after drain", extra={"task": name})
                    return
                if not restart:
                    return
                log.warning("task returned; restarting", extra={"task": name})
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"{name}: {type(exc).__name__}: {exc}"
                if self._expected(exc):
                    log.warning("task interrupted; restarting", extra={
                        "task": name, "retry_in": round(backoff, 2), "error": self.last_error})
                else:
                    log.exception("task crashed; restarting", extra={"task": name, "retry_in": round(backoff, 2)})
                if self._draining.is_set():
                    return   # no restart while the service stops
            if self._on_restart:
                self._on_restart(name)
            if asyncio.get_running_loop().time() - started > max_backoff:
                backoff = min_backoff  # it ran fine for a while: this is a fresh failure
            await asyncio.sleep(backoff * (0.8 + 0.4 * random.random()))
            backoff = min(backoff * 2, max_backoff)

    def drain(self) -> None:
        """From now on a task that returns is done (see the module doc)."""
        self._draining.set()

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    async def join(self) -> None:
        """Waits until drain() was called and then every task has finished."""
        await self._draining.wait()
        while pending := [task for task in self._tasks.values() if not task.done()]:
            await asyncio.wait(pending)

    def names(self) -> list[str]:
        return [name for name, task in self._tasks.items() if not task.done()]

    async def stop(self, timeout: float) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                log.error("task did not stop in time", extra={"task": task.get_name()})
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("task failed while stopping", extra={"task": task.get_name(), "error": str(task.exception())})
        self._tasks.clear()
