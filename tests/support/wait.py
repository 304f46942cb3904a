"""Waiting for a condition with a deadline: the only way tests synchronise.

The deadline holds whatever the check does: a check that hangs (an RPC to a process that is
gone, a query that never returns) is cut at the deadline and the wait fails with its message.
A check that knows its condition can no longer come true (the process it waits on has exited)
raises `GiveUp`, and the wait fails at once instead of at the deadline."""
from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


class GiveUp(Exception):
    """Raised by a check: waiting longer is pointless (say why)."""


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
                   message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        met = False
        bound = asyncio.timeout(max(0.0, deadline - time.monotonic()))
        try:
            async with bound:
                last = predicate()
                if inspect.isawaitable(last):
                    last = await last
            met = bool(last) and not isinstance(last, Exception)
        except GiveUp as exc:
            raise AssertionError(f"{message}: gave up waiting: {exc}") from None
        except TimeoutError as exc:
            last = "(the check itself was still running at the deadline)" if bound.expired() else exc
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        if met:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)


def wait_for_sync(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
                  message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
        except GiveUp as exc:
            raise AssertionError(f"{message}: gave up waiting: {exc}") from None
        except Exception as exc:  # noqa: BLE001
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout}s (last: {last!r})")
        time.sleep(interval)
