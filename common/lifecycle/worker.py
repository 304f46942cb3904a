"""The one loop of every outbox worker: wake on a nudge or a rescan timer, claim due work, run it
with bounded concurrency, and drain on shutdown.

A pass claims what is due (a repository function that leases rows, e.g. `common/shop/outbox.py:
claim_due`) and runs each item as a task. A lost nudge costs latency only: the timer rescans.
A crashing item is logged (a warning when the database went away, a traceback otherwise) and
handed to `on_crash`, which puts it back for a retry; without one its lease runs out and a later
claim takes it again: an item is never lost. `drain(grace)` stops claiming, gives items in flight
`grace` seconds, cancels the rest (their leases run out) and lets `run()` return; the task
supervisor takes that return, once it is draining, as the end of the task.

Two ways to claim:
- default: claim as slots free up (a finished item wakes the loop), at most `concurrency` in flight;
- `batch=N`: a pass claims up to N items, runs them all (at most `concurrency` at once) and then
  `after_pass`; a full batch means more may be waiting, so the next pass starts at once.
Items with the same `lane(item)` run one after another in claim order (one user's messages).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from common.db.database import Database, DatabaseUnavailable, is_outage

log = logging.getLogger(__name__)
Item = TypeVar("Item")

# DatabaseUnavailable with a ready database means every pool connection is busy: wait_ready()
# returns at once, so this pause keeps a worker from spinning on it.
UNAVAILABLE_PAUSE = 0.5


async def nudged(event: asyncio.Event, timeout: float) -> bool:
    """True when `event` is set, False when `timeout` passed first; a cancel always propagates.

    Not `asyncio.wait_for`: before Python 3.12 it returns the event's result when the cancel
    arrives in the few loop turns after the event fired, and so swallows the cancel. A loop
    around it then never stops: a gateway that a nudge reached as it was being stopped hung
    its shutdown."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


class WorkerLoop(Generic[Item]):
    def __init__(self, name: str, db: Database, *,
                 claim: Callable[[int], Awaitable[Sequence[Item]]],
                 work: Callable[[Item], Awaitable[None]],
                 rescan: float,
                 concurrency: int = 1,
                 batch: int | None = None,
                 lane: Callable[[Item], Hashable] | None = None,
                 wake: asyncio.Event | None = None,
                 prepare: Callable[[], Awaitable[None]] | None = None,
                 after_pass: Callable[[], Awaitable[None]] | None = None,
                 on_crash: Callable[[Item, BaseException], Awaitable[None]] | None = None) -> None:
        """`claim(limit)` returns at most `limit` leased items; `work(item)` does one; `prepare()`
        runs once per start, when the database is ready (release a dead predecessor's leases)."""
        self.name = name
        self.db = db
        self.rescan = rescan
        self.concurrency = concurrency
        self.wake = wake if wake is not None else asyncio.Event()
        self.passes = 0
        self.crashed = 0
        self._claim = claim
        self._work = work
        self._batch = batch
        self._lane = lane
        self._prepare = prepare
        self._after_pass = after_pass
        self._on_crash = on_crash
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task] = set()
        self._draining = False
        self._running = False
        self._stopped = asyncio.Event()

    # ---- signals from outside ------------------------------------------------------------------
    def nudge(self) -> None:
        self.wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, grace: float) -> None:
        """Stop claiming; give items in flight `grace` seconds to finish, cancel the rest, and
        return once `run()` has returned (at once when it is not running), within `grace`."""
        self._draining = True
        self.wake.set()
        try:
            async with asyncio.timeout(grace):
                if self._tasks:
                    await asyncio.wait(set(self._tasks))
                if self._running:
                    await self._stopped.wait()
        except TimeoutError:
            if self._tasks:
                log.warning("work still in flight after the drain grace; cancelled",
                            extra={"worker": self.name, "items": len(self._tasks)})
            await self._cancel_in_flight()

    # ---- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Until drained; then it returns (a cancel stops it at any point, in-flight items too)."""
        self._running = True
        self._stopped.clear()
        try:
            while not await self.db.wait_ready(timeout=self.rescan):
                if self._draining:
                    return
            if self._prepare is not None:
                await self._prepare()
            while not self._draining:
                self.wake.clear()   # before claiming: a nudge during this pass starts another
                if not await self.pass_once():
                    await nudged(self.wake, self.rescan)
            while self._tasks:   # drained: in-flight items finish (drain() cancels them after its grace)
                await asyncio.wait(set(self._tasks))
        finally:
            await self._cancel_in_flight()
            self._running = False
            self._stopped.set()

    async def pass_once(self) -> bool:
        """One claim and, in batch mode, its items run to the end; True when more may be due now."""
        if not self.db.ready:
            await self.db.wait_ready(timeout=self.rescan)
            return self.db.ready and not self._draining
        limit = self._batch if self._batch is not None else self.concurrency - len(self._tasks)
        if limit <= 0:
            return False   # every slot busy: a finished item wakes the loop
        try:
            items = list(await self._claim(limit))
            self.passes += 1
            started = [self._start(lane) for lane in self._lanes(items)]
            if self._batch is None:
                return False
            if started:
                await asyncio.wait(started)
            if self._after_pass is not None:
                await self._after_pass()
        except DatabaseUnavailable as exc:
            log.warning("worker waits for the database", extra={"worker": self.name, "error": str(exc)})
            await asyncio.sleep(UNAVAILABLE_PAUSE)
            return False
        return len(items) >= limit

    def _lanes(self, items: list[Item]) -> list[list[Item]]:
        if self._lane is None:
            return [[item] for item in items]
        lanes: dict[Hashable, list[Item]] = {}
        for item in items:
            lanes.setdefault(self._lane(item), []).append(item)
        return list(lanes.values())

    def _start(self, items: list[Item]) -> asyncio.Task:
        task = asyncio.create_task(self._run_lane(items), name=f"{self.name}-item")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if self._batch is None:
            self.wake.set()   # a slot is free: there may be more due items

    async def _run_lane(self, items: list[Item]) -> None:
        async with self._slots:
            for item in items:
                try:
                    await self._work(item)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one item's failure must cost a retry, not the worker
                    await self._crashed(item, exc)

    async def _crashed(self, item: Item, exc: Exception) -> None:
        self.crashed += 1
        if is_outage(exc):
            log.warning("work cut off by a database outage; retried later",
                        extra={"worker": self.name, "error": f"{type(exc).__name__}: {exc}"})
        else:
            log.exception("work failed; retried later", extra={"worker": self.name})
        if self._on_crash is None:
            return   # its lease runs out and a later claim takes it again
        try:
            await self._on_crash(item, exc)
        except DatabaseUnavailable:
            pass     # not put back: its lease runs out instead

    async def _cancel_in_flight(self) -> None:
        # An item cut off here is abandoned, never half-recorded: its lease runs out (or is
        # released at the next start) and it is done again.
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
