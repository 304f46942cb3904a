"""An aiohttp session for an API whose URL or headers hold a secret token (the Bot API puts it in
the URL, Crypto Pay in a header). A failure to get an answer is reported by its kind only:
aiohttp's own message may quote the URL, so neither it nor the URL ever reaches an exception
message or a log line.
"""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

CONNECT_TIMEOUT = 5.0  # a host that takes longer to accept a connection is not going to answer


class Unreachable(Exception):
    """No HTTP answer. The message is "timeout" or the aiohttp exception's class name, nothing more."""


class HttpSession:
    def __init__(self, *, timeout: float, connections: int | None = None) -> None:
        self._timeout = timeout
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop; closed by close() at shutdown.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections) if self._connections else None
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def post(self, url: str, *, json: Any = None, form: aiohttp.FormData | None = None,
                   headers: dict[str, str] | None = None, timeout: float | None = None) -> tuple[int, bytes]:
        """POSTs `form` (multipart) or `json` and returns (HTTP status, body); raises Unreachable."""
        total = timeout or self._timeout
        budget = aiohttp.ClientTimeout(total=total, connect=min(total, CONNECT_TIMEOUT))
        if form is not None:
            data: bytes | aiohttp.FormData = form
        else:
            data = orjson.dumps(json if json is not None else {})
            headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            async with self._http().post(url, data=data, headers=headers, timeout=budget) as response:
                return response.status, await response.read()
        except TimeoutError:
            raise Unreachable("timeout") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise Unreachable(type(exc).__name__) from None

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
            # Lets the connector's transports close before the loop ends (no "Unclosed" warnings).
            await asyncio.sleep(0)
