"""The circuit breaker's states, on a clock the test moves."""
from __future__ import annotations

from services.vpn_gateway.panels.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_lets_one_trial_through_after_cooldown() -> None:
    clock = Clock()
    changes: list[tuple[str, str]] = []
    breaker = CircuitBreaker(threshold=3, cooldown=10, clock=clock, on_change=lambda a, b: changes.append((a, b)))
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    assert breaker.retry_in() == 10
    clock.now += 10
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()            # the one trial
    assert not breaker.allow()        # nobody else meanwhile
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_a_failed_trial_doubles_the_cooldown_up_to_the_cap() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=10, max_cooldown=25, clock=clock)
    breaker.record_failure()
    for expected in (20, 25, 25):
        clock.now += breaker.retry_in()
        assert breaker.allow()
        breaker.record_failure()
        assert breaker.state is BreakerState.OPEN and breaker.retry_in() == expected


def test_a_success_resets_the_count_and_an_abandoned_trial_frees_the_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, cooldown=5, clock=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.release_trial()           # e.g. the trial call was cancelled
    assert breaker.allow()
