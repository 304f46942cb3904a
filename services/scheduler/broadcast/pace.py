"""How fast a broadcast goes, by mode. Free: the configured cap under Telegram's ~30 messages/s.
Paid (allow_paid_broadcast): up to 1000/s, which needs more requests in flight; its rows are also
claimed and recorded in shorter steps, so that a crash leaves fewer rows in doubt — at this pace
each one resent costs Stars as well as a duplicate."""
from __future__ import annotations

import math
from dataclasses import dataclass

from services.scheduler.settings import SchedulerSettings


@dataclass(frozen=True)
class Pace:
    rate: float           # messages per second, overall
    concurrency: int      # requests in flight at once
    claim_ahead: float    # seconds of sending claimed ('sending') at once
    flush_every: float    # seconds between writes of outcomes (the crash window)

    @property
    def claim_size(self) -> int:
        return max(1, min(500, math.ceil(self.rate * self.claim_ahead)))


def pace(settings: SchedulerSettings, paid: bool) -> Pace:
    if paid:
        return Pace(settings.broadcast_paid_rate, settings.broadcast_paid_concurrency, claim_ahead=0.1,
                    flush_every=0.02)
    return Pace(settings.broadcast_rate, settings.broadcast_concurrency, claim_ahead=0.5, flush_every=0.25)
