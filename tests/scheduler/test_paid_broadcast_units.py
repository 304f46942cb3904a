"""The paid-broadcast pieces that need no process: its expected cost, its pace, how its progress reads."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from common.contract.scheduler import BroadcastState
from services.scheduler.broadcast.cost import paid_broadcast_cost
from services.scheduler.broadcast.pace import pace
from services.scheduler.broadcast.view import STARS_SHORT, render
from services.scheduler.settings import SchedulerSettings


def test_cost_bills_what_the_free_30_per_second_does_not_cover() -> None:
    cost = paid_broadcast_cost(5_000, 1000)
    assert cost.estimate == Decimal("485.0") and cost.ceiling == Decimal("500.0")   # 150 free in 5 s
    assert paid_broadcast_cost(10, 1000).estimate == Decimal("1.0")                 # too short for a free one
    assert paid_broadcast_cost(0, 1000).estimate == 0
    assert paid_broadcast_cost(1_000, 30).estimate == 0                             # no faster than free: free


def test_paid_pace_is_faster_and_leaves_a_shorter_crash_window() -> None:
    settings = SchedulerSettings()
    free, paid = pace(settings, False), pace(settings, True)
    assert (free.rate, paid.rate) == (25.0, 1000.0)
    assert paid.concurrency > free.concurrency
    assert paid.flush_every < free.flush_every and paid.claim_size == 100 and free.claim_size == 13


def _state(**changes) -> BroadcastState:
    now = datetime.now(UTC)
    values = dict(broadcast_id=3, state="running", audience="all", language=None, total=100, sent=40, failed=0,
                  blocked=0, remaining=60, in_doubt=0, throttled=0, rate=500.0, eta_seconds=0.1, error=None,
                  created_at=now, started_at=now, finished_at=None, paid=True)
    return BroadcastState(**{**values, **changes})


def test_progress_names_a_paid_broadcast_and_a_pause_for_stars() -> None:
    text, _ = render(_state(), "en")
    assert "⭐ Paid broadcast" in text and "Stars" not in text.split("\n", 2)[2]
    paused, keyboard = render(_state(state="paused", error=STARS_SHORT), "ru")
    assert "закончились звёзды" in paused and "stars_balance_too_low" not in paused
    assert [b["callback_data"] for b in keyboard[0]] == ["bcast:resume:3", "bcast:cancel:3"]
    free, _ = render(_state(paid=False), "en")
    assert "Paid" not in free
