"""The sender's pacing: even slots at the overall rate, a gap per chat, a pause for 429."""
from __future__ import annotations

import pytest

from services.scheduler.telegram.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_slots_are_even_and_never_saved_up() -> None:
    clock = FakeClock()
    limiter = RateLimiter(25, 1.0, clock=clock)
    waits = [limiter.reserve(chat) for chat in range(1, 51)]
    assert waits[0] == 0 and waits[1] == pytest.approx(0.04) and waits[-1] == pytest.approx(49 * 0.04)
    clock.now += 60                                   # an idle minute earns no burst
    assert limiter.reserve(99) == 0 and limiter.reserve(98) == pytest.approx(0.04)


def test_one_chat_waits_its_own_gap_and_uncounted_sends_take_no_slot() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, 1.0, clock=clock)
    assert limiter.reserve(7) == 0
    assert limiter.reserve(7) == pytest.approx(1.0)
    assert limiter.reserve(8, counted=False) == 0
    assert limiter.reserve(9) == pytest.approx(0.01), "a chat's gap does not hold the others back"


def test_429_pauses_everyone_then_spaces_them_out() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 0, clock=clock)
    limiter.pause(3)
    assert limiter.paused_for == pytest.approx(3)
    assert limiter.reserve(1) == pytest.approx(3) and limiter.reserve(2) == pytest.approx(3.1)
    assert limiter.reserve(3, counted=False) == pytest.approx(3)


def test_paid_sends_have_their_own_faster_slots_but_share_the_429_pause_and_chat_gaps() -> None:
    clock = FakeClock()
    limiter = RateLimiter(25, 1.0, paid_rate=1000, clock=clock)
    paid = [limiter.reserve(chat, paid=True) for chat in range(1, 101)]
    assert paid[1] == pytest.approx(0.001) and paid[-1] == pytest.approx(99 * 0.001)   # 1000/s, evenly
    assert limiter.reserve(500) == 0, "the free chain is not pushed back by paid slots"
    assert limiter.reserve(1, paid=True) == pytest.approx(1.0), "one chat still waits its own gap"
    limiter.pause(2)
    assert limiter.reserve(600, paid=True) == pytest.approx(2.0)
