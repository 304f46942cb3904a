"""Telegram's flood control as token buckets: one for the whole bot, one per chat."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .config import Limits


class TokenBucket:
    """Holds up to `burst` tokens, refilled at `rate` per second; a send spends one."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_needed(self, now: float) -> float:
        """Seconds until one token is available (0 if available now)."""
        self.refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


@dataclass(frozen=True)
class PaidAdmission:
    """How a send with allow_paid_broadcast got through: within the free limit, billed, or not."""

    retry_after: int | None = None  # refused by flood control (paid mode has its own ceiling)
    billed: bool = False  # beyond the free limit: the bot pays for it
    short_of_stars: bool = False  # beyond the free limit, and the bot cannot pay


class RateLimiter:
    def __init__(self, limits: Limits, clock=time.monotonic) -> None:
        self._clock = clock
        self.configure(limits)

    def configure(self, limits: Limits) -> None:
        """Apply new limits; buckets start full again, like a quiet period."""
        self.limits = limits
        self._global = TokenBucket(limits.global_rate, limits.global_burst, self._clock())
        self._paid = TokenBucket(limits.paid_rate, limits.paid_burst, self._clock())
        self._chats: dict[int, TokenBucket] = {}

    def applies_to(self, method: str) -> bool:
        return method in self.limits.rate_limited_methods

    def acquire(self, chat_id: int) -> int | None:
        """Spend a token from both buckets, or return retry_after (whole seconds, >= 1) and spend none.

        A refused request costs nothing: that is what lets a client that honours retry_after get through.
        """
        now = self._clock()
        chat = self._chat(chat_id, now)
        wait = max(self._global.wait_needed(now), chat.wait_needed(now))
        if wait > 0:
            return max(1, math.ceil(wait))
        self._global.take()
        chat.take()
        return None

    def acquire_paid(self, chat_id: int, *, affordable: bool) -> PaidAdmission:
        """A send that allows a paid broadcast: free while the bot-wide bucket has tokens, then
        billed up to the paid ceiling. The per-chat limit holds either way. Nothing is spent on a
        refusal, and only a send beyond the free limit needs the bot to afford it."""
        now = self._clock()
        chat = self._chat(chat_id, now)
        chat_wait = chat.wait_needed(now)
        if chat_wait > 0:
            return PaidAdmission(retry_after=max(1, math.ceil(chat_wait)))
        if self._global.wait_needed(now) <= 0:
            self._global.take()
            chat.take()
            return PaidAdmission()
        paid_wait = self._paid.wait_needed(now)
        if paid_wait > 0:
            return PaidAdmission(retry_after=max(1, math.ceil(paid_wait)))
        if not affordable:
            return PaidAdmission(short_of_stars=True)
        self._paid.take()
        chat.take()
        return PaidAdmission(billed=True)

    def _chat(self, chat_id: int, now: float) -> TokenBucket:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = TokenBucket(self.limits.chat_rate, self.limits.chat_burst, now)
        return chat
