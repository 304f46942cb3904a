"""The bot's own Stars balance and what paid broadcasts take from it.

Telegram (Bot API, sendMessage.allow_paid_broadcast): up to 1000 messages per second, ignoring the
broadcasting limits, for 0.1 Star per message, withdrawn from the bot's balance; only messages sent
beyond the free limit are billed, and only when they were sent. The balance is what an operator set
(control API), plus the Stars users paid in invoices, minus refunds and paid-broadcast charges —
kept in nanostars, as StarAmount reports fractions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .models import StarTransactionRecord

NANOSTARS_PER_STAR = 1_000_000_000
PAID_MESSAGE_NANOSTARS = NANOSTARS_PER_STAR // 10  # 0.1 Star
# What the stand-in answers when a billed send finds the balance short (the send is refused whole).
BALANCE_TOO_LOW = "BALANCE_TOO_LOW"


@dataclass
class BotStarBalance:
    opening_nanostars: int = 0
    billed_messages: int = 0

    def nanostars(self, transactions: Iterable[StarTransactionRecord]) -> int:
        earned = sum(-t.amount if t.refund else t.amount for t in transactions) * NANOSTARS_PER_STAR
        return self.opening_nanostars + earned - self.billed_messages * PAID_MESSAGE_NANOSTARS

    def set(self, transactions: list[StarTransactionRecord], nanostars: int) -> None:
        """Makes the balance `nanostars` now (what was earned and billed so far stays counted)."""
        self.opening_nanostars += nanostars - self.nanostars(transactions)

    def affords_message(self, transactions: Iterable[StarTransactionRecord]) -> bool:
        return self.nanostars(transactions) >= PAID_MESSAGE_NANOSTARS

    def bill_message(self) -> None:
        self.billed_messages += 1


def star_amount(nanostars: int) -> dict[str, Any]:
    """StarAmount: whole Stars rounded toward 0, the rest in nanostar_amount (same sign, omitted when 0)."""
    whole = abs(nanostars) // NANOSTARS_PER_STAR
    rest = abs(nanostars) % NANOSTARS_PER_STAR
    sign = -1 if nanostars < 0 else 1
    amount: dict[str, Any] = {"amount": sign * whole}
    if rest:
        amount["nanostar_amount"] = sign * rest
    return amount


def to_nanostars(amount: int, nanostar_amount: int = 0) -> int:
    return amount * NANOSTARS_PER_STAR + nanostar_amount
