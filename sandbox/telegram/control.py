"""TelegramControl: the control API over HTTP, for tests whose stand-in runs in another process.

Method names and signatures match TelegramStandIn's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from .actions import MessagePredicate
from .errors import ControlError


class ControlRequestError(ControlError):
    """The control API refused a request; a ControlError, so tests catch the same thing in- or out-of-process."""


class TelegramControl:
    def __init__(self, base_url: str, *, request_timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = request_timeout
        self._session: aiohttp.ClientSession | None = None

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> TelegramControl:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _request(
        self,
        verb: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        query: dict[str, str] | None = None,
        timeout: float | None = None,
        raw: bool = False,
    ) -> Any:
        session = await self._http()
        async with session.request(
            verb,
            f"{self.base_url}/_control/{path}",
            json=body if verb != "GET" else None,
            params=query,
            timeout=aiohttp.ClientTimeout(total=timeout or self._timeout),
        ) as response:
            if response.status >= 400:
                try:
                    message = (await response.json())["error"]
                except (aiohttp.ContentTypeError, KeyError, ValueError):
                    message = await response.text()
                raise ControlRequestError(response.status, message)
            return await response.read() if raw else await response.json()

    # --- acting as users --------------------------------------------------------------------------

    async def user_message(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        body = {
            "text": text,
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "language_code": language_code,
        }
        return await self._request("POST", f"users/{user_id}/message", {k: v for k, v in body.items() if v is not None})

    async def tap(
        self, user_id: int, label: str | None = None, *, data: str | None = None, message_id: int | None = None
    ) -> dict[str, Any]:
        body = {"label": label, "data": data, "message_id": message_id}
        return await self._request("POST", f"users/{user_id}/tap", {k: v for k, v in body.items() if v is not None})

    async def pay_invoice(
        self, user_id: int, *, message_id: int | None = None, drop_update: bool = False, timeout: float | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"drop_update": drop_update}
        if message_id is not None:
            body["message_id"] = message_id
        if timeout is not None:
            body["timeout"] = timeout
        # The server waits up to its pre-checkout window; give the HTTP request more than that.
        return await self._request("POST", f"users/{user_id}/pay_invoice", body, timeout=(timeout or 30.0) + 10)

    async def pay_link(
        self, user_id: int, url: str, *, copies: int = 1, timeout: float | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"url": url, "copies": copies}
        if timeout is not None:
            body["timeout"] = timeout
        return await self._request("POST", f"users/{user_id}/pay_link", body, timeout=(timeout or 30.0) + 10)

    async def chargeback(self, user_id: int, charge_id: str, *, silent: bool = False) -> dict[str, Any]:
        return await self._request("POST", f"users/{user_id}/chargeback", {"charge_id": charge_id, "silent": silent})

    async def set_stars(self, user_id: int, stars: int) -> dict[str, Any]:
        return await self._request("POST", f"users/{user_id}/stars", {"stars": stars})

    async def renew_now(self, user_id: int, *, copies: int = 1) -> dict[str, Any]:
        return await self._request("POST", f"users/{user_id}/renew_now", {"copies": copies})

    async def advance_clock(self, seconds: int, *, copies: int = 1) -> dict[str, Any]:
        return await self._request("POST", "clock/advance", {"seconds": seconds, "copies": copies})

    async def star_subscriptions(self, user_id: int | None = None) -> list[dict[str, Any]]:
        query = {"user_id": str(user_id)} if user_id is not None else None
        return await self._request("GET", "star_subscriptions", query=query)

    async def block(self, user_id: int) -> dict[str, Any]:
        return await self._request("POST", f"users/{user_id}/block")

    async def unblock(self, user_id: int) -> dict[str, Any]:
        return await self._request("POST", f"users/{user_id}/unblock")

    # --- reading what happened --------------------------------------------------------------------

    async def transcript(self, chat_id: int) -> list[dict[str, Any]]:
        return (await self._request("GET", f"chats/{chat_id}/messages"))["messages"]

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: MessagePredicate | None = None,
        timeout: float = 5.0,
        *,
        after: int = 0,
        from_bot: bool = True,
    ) -> dict[str, Any]:
        """Same contract as TelegramStandIn.wait_for_message; the predicate runs here, and the server
        long-polls on the chat's version so nothing sleeps on a timer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        version = -1
        messages: list[dict[str, Any]] = []
        while True:
            remaining = max(deadline - loop.time(), 0.0)
            view = await self._request(
                "GET",
                f"chats/{chat_id}/wait",
                query={"after_version": str(version), "timeout": str(remaining)},
                timeout=remaining + 10,
            )
            version, messages = view["version"], view["messages"]
            for entry in messages:
                if entry["message_id"] <= after or (from_bot and entry["from"] != "bot"):
                    continue
                if predicate is None or predicate(entry):
                    return entry
            if loop.time() >= deadline:
                raise TimeoutError(f"no matching message in chat {chat_id} within {timeout}s; transcript: {messages}")

    async def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        return await self._request("GET", "calls", query={"method": method} if method else None)

    async def callback_queries(self) -> list[dict[str, Any]]:
        return await self._request("GET", "callback_queries")

    async def star_transactions(self) -> list[dict[str, Any]]:
        return await self._request("GET", "star_transactions")

    async def pending_updates(self) -> list[dict[str, Any]]:
        return await self._request("GET", "updates")

    async def file_bytes(self, file_id: str) -> bytes:
        return await self._request("GET", f"files/{file_id}", raw=True)

    async def health(self) -> dict[str, Any]:
        return await self._request("GET", "health")

    # --- faults, limits, reset --------------------------------------------------------------------

    async def add_fault(
        self,
        method: str = "*",
        *,
        latency: float | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        count: int | None = None,
        outage: bool = False,
        description: str | None = None,
        raw_body: str | None = None,
    ) -> dict[str, Any]:
        body = {
            "method": method,
            "latency": latency,
            "status": status,
            "retry_after": retry_after,
            "count": count,
            "outage": outage,
            "description": description,
            "raw_body": raw_body,
        }
        return await self._request("POST", "faults", {k: v for k, v in body.items() if v is not None})

    async def faults(self) -> list[dict[str, Any]]:
        return await self._request("GET", "faults")

    async def clear_faults(self) -> None:
        await self._request("DELETE", "faults")

    async def set_limits(self, **changes: Any) -> dict[str, Any]:
        return await self._request("POST", "limits", changes)

    async def limits(self) -> dict[str, Any]:
        return await self._request("GET", "limits")

    async def reset(self) -> None:
        await self._request("POST", "reset")

    async def set_star_balance(self, amount: int, nanostar_amount: int = 0) -> dict[str, Any]:
        return await self._request("POST", "star_balance", {"amount": amount, "nanostar_amount": nanostar_amount})

    async def star_balance(self) -> dict[str, Any]:
        return await self._request("GET", "star_balance")
