"""Waiting for a wake-up with a timer, in the loops of the activation worker and bulk reissue."""
from __future__ import annotations

import asyncio


async def woken(event: asyncio.Event, timeout: float) -> bool:
    """True when `event` is set, False when `timeout` passed first; a cancel always propagates.

    Not `asyncio.wait_for`: before Python 3.12 it returns the event's result when the cancel
    arrives in the few loop turns after the event fired, and so swallows the cancel. A loop
    around it then never stops: a gateway that a nudge reached as it was being stopped hung
    its shutdown (and a test awaiting that shutdown hung until pytest-timeout)."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
