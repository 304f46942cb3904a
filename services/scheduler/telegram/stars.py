"""The bot's Telegram Stars balance (getMyStarBalance), which paid broadcasts draw on."""
from __future__ import annotations

from decimal import Decimal

from common.telegram.bot_api import BotApi, BotApiError

NANOSTARS_PER_STAR = Decimal(1_000_000_000)


async def star_balance(api: BotApi, *, timeout: float) -> Decimal:
    """StarAmount as Stars: whole `amount` plus `nanostar_amount` billionths (both may be negative)."""
    result = await api.call("getMyStarBalance", {}, timeout=timeout)
    amount = result.get("amount") if isinstance(result, dict) else None
    nanos = result.get("nanostar_amount", 0) if isinstance(result, dict) else None
    if not isinstance(amount, int) or not isinstance(nanos, int):
        raise BotApiError("getMyStarBalance", 502, "malformed StarAmount")
    return Decimal(amount) + Decimal(nanos) / NANOSTARS_PER_STAR
