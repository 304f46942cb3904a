"""The Bot API client for the services that call Telegram without aiogram: the scheduler's own
sends (broadcast rows, export documents, progress edits) and payments' Stars reconciliation and
refunds. Callers decide per answer, so every refusal carries Telegram's error code, description
and retry_after.

Requests go to `<api_url>/bot<token>/<method>`: the token is part of every URL, so an error
carries only the method, the status and Telegram's description (see common.http_session).
"""
from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from common.http_session import HttpSession, Unreachable

MAX_DESCRIPTION = 200
# Beside the calls a caller runs side by side (a broadcast's sends), an occasional other call (a
# progress edit) gets a connection without waiting behind them.
SPARE_CONNECTIONS = 2


class BotApiError(Exception):
    """Telegram refused the call (status = its error_code) or could not be reached (status 0)."""

    def __init__(self, method: str, status: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"Bot API {method}: {status} {description}")
        self.method = method
        self.status = status
        self.description = description
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Worth another attempt later: network trouble, flood control (429) or a server-side failure."""
        return self.status in (0, 429) or self.status >= 500


class BotApi:
    def __init__(self, api_url: str, token: str, *, timeout: float, connections: int | None = None) -> None:
        self._url = f"{api_url.rstrip('/')}/bot{token}/"
        self._http = HttpSession(timeout=timeout,
                                 connections=connections + SPARE_CONNECTIONS if connections else None)

    async def call(self, method: str, params: dict[str, Any] | None = None, *,
                   form: aiohttp.FormData | None = None, timeout: float | None = None) -> Any:
        """The call's `result`; `form` sends multipart (files), else `params` go as JSON.
        `timeout` overrides the client's for this call (an upload takes longer)."""
        try:
            status, raw = await self._http.post(self._url + method, json=params, form=form, timeout=timeout)
        except Unreachable as exc:
            raise BotApiError(method, 0, str(exc)) from None
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BotApiError(method, status if status >= 400 else 502, f"non-JSON answer (HTTP {status})") from None
        if not isinstance(body, dict):
            raise BotApiError(method, 502, "malformed answer")
        if body.get("ok"):
            return body.get("result")
        parameters = body.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        code = body.get("error_code")
        raise BotApiError(method, code if isinstance(code, int) and code else status,
                          str(body.get("description") or "")[:MAX_DESCRIPTION],
                          float(retry_after) if isinstance(retry_after, (int, float)) else None)

    async def close(self) -> None:
        await self._http.close()
