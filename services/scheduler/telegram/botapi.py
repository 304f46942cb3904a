"""A small Bot API client for the scheduler's own sends (broadcast rows, export documents,
progress edits). aiohttp straight: the scheduler needs the raw error code and retry_after of
every answer to decide per row, and nothing else of a framework.

The token is part of every URL, so an error never carries the URL or aiohttp's message (which
may quote it): only the status and Telegram's description.
"""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson


class BotApiError(Exception):
    """Telegram refused (status = error_code) or could not be reached (status 0)."""

    def __init__(self, status: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status}: {description}")
        self.status = status
        self.description = description
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Worth another attempt later: network trouble or a server-side failure."""
        return self.status == 0 or self.status >= 500


class BotApi:
    def __init__(self, base_url: str, token: str, *, timeout: float, connections: int) -> None:
        self._url = f"{base_url.rstrip('/')}/bot{token}/"
        self._timeout = timeout
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop; closed by close() at shutdown.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections + 2),
                json_serialize=lambda value: orjson.dumps(value).decode())
        return self._session

    async def call(self, method: str, params: dict[str, Any] | None = None, *,
                   form: aiohttp.FormData | None = None, timeout: float | None = None) -> Any:
        budget = aiohttp.ClientTimeout(total=timeout or self._timeout)
        try:
            if form is not None:
                request = self._http().post(self._url + method, data=form, timeout=budget)
            else:
                request = self._http().post(self._url + method, json=params or {}, timeout=budget)
            async with request as response:
                raw = await response.read()
                status = response.status
        except TimeoutError:
            raise BotApiError(0, "timeout") from None
        except aiohttp.ClientError as exc:
            raise BotApiError(0, type(exc).__name__) from None
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BotApiError(status if status >= 400 else 502, f"non-JSON answer (HTTP {status})") from None
        if isinstance(body, dict) and body.get("ok"):
            return body.get("result")
        if not isinstance(body, dict):
            raise BotApiError(502, "malformed answer")
        parameters = body.get("parameters") or {}
        retry_after = parameters.get("retry_after")
        raise BotApiError(int(body.get("error_code") or status), str(body.get("description") or ""),
                          float(retry_after) if retry_after is not None else None)

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
            # Lets the connector's transports close before the loop ends (no "Unclosed" warnings).
            await asyncio.sleep(0)
