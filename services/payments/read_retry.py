"""Reads from a payment provider are retried with backoff when the provider did not answer
usefully; writes never go through here, since a retried write can pay or refund twice."""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def read_with_retries(read: Callable[[], Awaitable[T]], *, name: str, attempts: int, backoff: float,
                            retryable: Callable[[Exception], bool]) -> T:
    """`read()`, again after a jittered, doubling pause while it raises a `retryable` error;
    the last attempt's error propagates."""
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            return await read()
        except Exception as exc:
            if not retryable(exc) or attempt >= attempts:
                raise
            log.info("provider read failed, retrying", extra={"method": name, "error": str(exc), "attempt": attempt})
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay *= 2
    raise ValueError(f"attempts must be at least 1, not {attempts}")
