"""A circuit breaker per panel server.

After `threshold` consecutive failures the breaker opens and calls fail at once, without
touching the panel, for `cooldown` seconds; then one trial call is let through (half-open).
Its success closes the breaker, its failure opens it again for twice as long (up to
`max_cooldown`). A down panel so costs one request per cooldown instead of one per pending
activation, and the queue knows when to try again (`retry_in`).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, threshold: int = 5, cooldown: float = 10.0, max_cooldown: float = 300.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[BreakerState, BreakerState], None] | None = None) -> None:
        self.threshold = threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max(max_cooldown, cooldown)
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._cooldown = cooldown
        self._open_until = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() >= self._open_until:
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def failures(self) -> int:
        return self._failures

    def retry_in(self) -> float:
        """Seconds until a call may be tried again (0 when it may now)."""
        if self._state is BreakerState.OPEN:
            return max(0.0, self._open_until - self._clock())
        return 0.0

    def allow(self) -> bool:
        """May a call go to the panel now? In half-open, only one trial call at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._set(BreakerState.HALF_OPEN)
            self._trial_in_flight = True
            return True
        return False

    def release_trial(self) -> None:
        """The trial call ended without a verdict (cancelled, or an answer that says nothing)."""
        self._trial_in_flight = False

    def record_success(self) -> None:
        self._failures = 0
        self._cooldown = self.base_cooldown
        self._trial_in_flight = False
        self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._failures += 1
        was = self._state
        self._trial_in_flight = False
        if was is BreakerState.HALF_OPEN:
            self._cooldown = min(self._cooldown * 2, self.max_cooldown)
            self._open()
        elif was is BreakerState.CLOSED and self._failures >= self.threshold:
            self._open()
        elif was is BreakerState.OPEN:
            self._open()  # a health probe failed while open: the panel is still down

    def trip(self) -> None:
        """A failure that the next calls would repeat (a certificate we do not trust): open now,
        whatever the count, so that calls stop at once instead of after `threshold` more tries."""
        self._failures += 1
        self._trial_in_flight = False
        if self._state is BreakerState.HALF_OPEN:
            self._cooldown = min(self._cooldown * 2, self.max_cooldown)
        self._open()

    def _open(self) -> None:
        self._open_until = self._clock() + self._cooldown
        self._set(BreakerState.OPEN)

    def _set(self, state: BreakerState) -> None:
        before, self._state = self._state, state
        if before is not state and self._on_change is not None:
            self._on_change(before, state)

    def describe(self) -> dict[str, object]:
        return {"state": str(self.state), "failures": self._failures,
                "retry_in": round(self.retry_in(), 1)}
