"""Pacing of the scheduler's Bot API sends: an overall rate, a minimum gap per chat, and a pause
for everyone when Telegram answers 429 (its flood control counts the whole bot).

Slots are handed out evenly (1/rate apart) instead of in bursts, so the overall rate never
exceeds the cap over any window longer than one slot; a slot not used in time is not saved up.
A paid broadcast (allow_paid_broadcast) books its slots on a second, faster chain (`paid_rate`);
the per-chat gap and a 429 pause hold for both.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, rate: float, chat_interval: float, *, paid_rate: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self.paid_interval = 1.0 / paid_rate if paid_rate else self.interval
        self.chat_interval = chat_interval
        self._clock = clock
        self._next_free = 0.0
        self._next_paid = 0.0
        self._paused_until = 0.0
        self._chat_next: dict[int, float] = {}

    def pause(self, seconds: float) -> None:
        """Telegram said retry_after: nothing is sent by anyone before it has passed."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    def reserve(self, chat_id: int, *, counted: bool = True, paid: bool = False) -> float:
        """Books the next slot for a message to `chat_id`; returns how long to wait for it.
        `counted=False` (progress edits) keeps only the per-chat gap and the 429 pause;
        `paid` books on the paid broadcast's chain."""
        now = self._clock()
        at = max(now, self._paused_until)
        if counted:
            at = max(at, self._next_paid if paid else self._next_free)
        chat_free = self._chat_next.get(chat_id, 0.0)
        if chat_free > at:
            # Held back by its own chat's gap: it goes at that time without pushing everyone
            # else's slots back (at most one extra message in that slot — rare: retries to one
            # chat are seconds apart anyway).
            at = chat_free
        elif counted and paid:
            self._next_paid = at + self.paid_interval
        elif counted:
            self._next_free = at + self.interval
        self._chat_next[chat_id] = at + self.chat_interval
        if len(self._chat_next) > 10_000:
            self._forget_old(now)
        return at - now

    async def acquire(self, chat_id: int, *, counted: bool = True, paid: bool = False) -> None:
        while True:
            wait = self.reserve(chat_id, counted=counted, paid=paid)
            if wait > 0:
                await asyncio.sleep(wait)
            if self.paused_for <= 0:
                return
            # A 429 arrived while we waited: this slot is void. Booking a new one spaces the
            # senders out after the pause instead of letting them all go at its end.

    def _forget_old(self, now: float) -> None:
        self._chat_next = {chat: at for chat, at in self._chat_next.items() if at > now}
