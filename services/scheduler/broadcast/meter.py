"""Recent throughput of a broadcast (messages settled per second over the last few seconds),
for the ETA. A sliding window rather than an average since the start: a pause or a 429 should
not lower the estimate for the rest of the run."""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RateMeter:
    def __init__(self, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._stamps: deque[float] = deque()

    def tick(self, count: int = 1) -> None:
        now = self._clock()
        self._stamps.extend([now] * count)
        self._trim(now)

    def rate(self) -> float:
        now = self._clock()
        self._trim(now)
        if len(self._stamps) < 2:
            return 0.0
        span = max(now - self._stamps[0], 1e-3)
        return len(self._stamps) / max(span, min(self.window, 1.0))

    def _trim(self, now: float) -> None:
        while self._stamps and self._stamps[0] < now - self.window:
            self._stamps.popleft()
