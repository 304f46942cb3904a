"""The two Bot API methods payments calls itself: getStarTransactions (reconciliation) and
refundStarPayment (admin refund). Everything else on Telegram belongs to the bot process.

Requests go to `<ATCS_TELEGRAM_API_URL>/bot<token>/<method>` with a timeout. The URL holds the
token, so it is never logged and never put into an exception message.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import aiohttp
import orjson

log = logging.getLogger(__name__)


class BotApiError(Exception):
    """Telegram refused the call (`{"ok": false, "error_code", "description"}`)."""

    def __init__(self, method: str, code: int, description: str) -> None:
        super().__init__(f"Bot API {method}: {code} {description}")
        self.code = code
        self.description = description


class BotApiUnavailable(Exception):
    """No usable answer: connection failure, timeout, 429 or 5xx."""


class BotApi:
    def __init__(self, api_url: str, token: str, *, timeout: float = 15.0, read_attempts: int = 3,
                 backoff: float = 0.2) -> None:
        self._base = f"{api_url.rstrip('/')}/bot{token}/"
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0))
        self._read_attempts = read_attempts
        self._backoff = backoff
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _once(self, method: str, params: dict[str, Any]) -> Any:
        try:
            async with self._client().post(self._base + method, data=orjson.dumps(params),
                                           headers={"Content-Type": "application/json"}) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise BotApiUnavailable(f"Bot API {method}: {type(exc).__name__}") from None
        try:
            envelope = orjson.loads(raw)
        except orjson.JSONDecodeError:
            envelope = None
        if status == 429 or status >= 500 or not isinstance(envelope, dict):
            raise BotApiUnavailable(f"Bot API {method}: HTTP {status}")
        if envelope.get("ok") is True:
            return envelope.get("result")
        code = envelope.get("error_code") if isinstance(envelope.get("error_code"), int) else status
        raise BotApiError(method, code, str(envelope.get("description") or "")[:200])

    async def get_star_transactions(self, offset: int, limit: int = 100) -> list[dict[str, Any]]:
        delay = self._backoff
        for attempt in range(1, self._read_attempts + 1):
            try:
                result = await self._once("getStarTransactions", {"offset": offset, "limit": limit})
                break
            except BotApiUnavailable:
                if attempt == self._read_attempts:
                    raise
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay *= 2
        transactions = result.get("transactions") if isinstance(result, dict) else None
        return [t for t in transactions if isinstance(t, dict)] if isinstance(transactions, list) else []

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        await self._once("refundStarPayment", {"user_id": user_id, "telegram_payment_charge_id": charge_id})
