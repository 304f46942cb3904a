"""The Bot API methods payments calls itself: getStarTransactions (reconciliation; a read, so
retried), refundStarPayment (admin refund; a write, never retried) and editUserStarSubscription
(cancel or re-enable a subscription's renewal; it sets a state, so repeating it is harmless, but
it is not retried either: the user taps again). Everything else on Telegram belongs to the bot process."""
from __future__ import annotations

from typing import Any

from common.telegram.bot_api import BotApi, BotApiError
from services.payments.read_retry import read_with_retries


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, BotApiError) and exc.transient


class StarsApi:
    def __init__(self, api: BotApi, *, read_attempts: int = 3, backoff: float = 0.2) -> None:
        self._api = api
        self._read_attempts = read_attempts
        self._backoff = backoff

    async def get_star_transactions(self, offset: int, limit: int = 100) -> list[dict[str, Any]]:
        method = "getStarTransactions"
        result = await read_with_retries(lambda: self._api.call(method, {"offset": offset, "limit": limit}),
                                         name=method, attempts=self._read_attempts, backoff=self._backoff,
                                         retryable=_retryable)
        transactions = result.get("transactions") if isinstance(result, dict) else None
        return [t for t in transactions if isinstance(t, dict)] if isinstance(transactions, list) else []

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        await self._api.call("refundStarPayment", {"user_id": user_id, "telegram_payment_charge_id": charge_id})

    async def edit_user_star_subscription(self, user_id: int, charge_id: str, canceled: bool) -> None:
        await self._api.call("editUserStarSubscription", {"user_id": user_id, "telegram_payment_charge_id": charge_id,
                                                          "is_canceled": canceled})

    async def close(self) -> None:
        await self._api.close()
