"""Timed outages of the Crypto Pay API: unreachable or slow for a while, then back by itself.

A fault (``sandbox.kit.faults``) lasts until it is removed; the real service goes away for a while
and comes back without anyone telling it to. An outage is a fault with an end:

* ``refuse``      the listener is closed (new connections are refused) and requests on connections
                  kept alive from before are dropped unanswered: nothing reaches the API;
* ``drop``        connections are accepted and dropped without an answer;
* ``slow``        every API request waits ``latency`` seconds first (longer than a client's
                  timeout, it is a timeout);
* ``error``       every API request gets ``status`` (5xx as the proxy's HTML page);
* ``rate_limit``  every API request gets 429 with ``Retry-After: retry_after``.

Only the API is affected: the control API stays reachable (except under ``refuse``, which closes
the one listener both share) and webhooks keep going out, as they do when only the API is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sandbox.kit.clock import Clock, iso_ms
from sandbox.kit.faults import FaultRegistry

log = logging.getLogger(__name__)
KINDS = ("refuse", "drop", "slow", "error", "rate_limit")


class Outages:
    def __init__(self, faults: FaultRegistry, clock: Clock, close_listener: Callable[[], Awaitable[None]],
                 reopen_listener: Callable[[], Awaitable[None]]) -> None:
        self._faults = faults
        self._clock = clock
        self._close_listener = close_listener
        self._reopen_listener = reopen_listener
        self._running: set[asyncio.Task] = set()
        self._refusing = False

    async def start(self, seconds: float, kind: str = "refuse", *, latency: float = 30.0, status: int = 503,
                    retry_after: int = 1) -> dict:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if not 0 < seconds <= 3600:
            raise ValueError("seconds must be in (0, 3600]")
        refusing = kind == "refuse"
        if refusing and self._refusing:
            raise ValueError("the listener is already closed by another outage")
        if kind == "slow":
            fault = self._faults.add(kind="latency", latency=latency)
        elif kind == "error":
            fault = self._faults.add(kind="error", status=status)
        elif kind == "rate_limit":
            fault = self._faults.add(kind="rate_limit", retry_after=retry_after)
        else:
            fault = self._faults.add(kind="outage")
        self._refusing = self._refusing or refusing

        async def last() -> None:
            closed = False
            try:
                if refusing:
                    # Only the listening socket closes: the control request that asked is still answered.
                    await self._close_listener()
                    closed = True
                await asyncio.sleep(seconds)  # the outage itself, not synchronisation
            finally:
                self._faults.remove(fault.id)
                if refusing:
                    self._refusing = False
                if closed:
                    await self._reopen_listener()

        task = asyncio.get_running_loop().create_task(last())
        self._running.add(task)
        task.add_done_callback(self._ended)
        until = self._clock.now() + timedelta(seconds=seconds)
        return {"kind": kind, "seconds": seconds, "until": iso_ms(until)}

    def _ended(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("outage did not end cleanly", exc_info=task.exception())

    @property
    def active(self) -> int:
        return len(self._running)

    async def end_all(self) -> None:
        """Ends every outage now (reset, stop)."""
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
