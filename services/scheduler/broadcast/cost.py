"""What a paid broadcast is expected to cost, shown to the admin before it starts.

Telegram (Bot API, allow_paid_broadcast; Bots FAQ): bots broadcast about 30 messages per second
for free; a paid broadcast goes up to 1000/s and each message beyond the free limit costs 0.1 Star,
withdrawn from the bot's balance. At the paid pace the free share is what 30/s covers in the time
the broadcast takes; the rest is billed. The ceiling (every message billed) is shown as well.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

TELEGRAM_FREE_RATE = 30.0
STARS_PER_PAID_MESSAGE = Decimal("0.1")


@dataclass(frozen=True)
class Cost:
    estimate: Decimal
    ceiling: Decimal


def paid_broadcast_cost(recipients: int, paid_rate: float) -> Cost:
    recipients = max(recipients, 0)
    if paid_rate <= TELEGRAM_FREE_RATE:
        free = recipients
    else:
        free = min(recipients, math.floor(TELEGRAM_FREE_RATE * recipients / paid_rate))
    return Cost(estimate=STARS_PER_PAID_MESSAGE * (recipients - free),
                ceiling=STARS_PER_PAID_MESSAGE * recipients)
