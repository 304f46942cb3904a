"""The HTTP core every panel client shares: one aiohttp session per server, its concurrency
limit and timeouts, retries with backoff on 5xx, network errors and 429 (honouring
Retry-After), and the server's circuit breaker.

Errors carry the server name, the route template and the status, never the URL (Outline's URL
holds its secret path) nor a response body (it may hold a key).
"""
from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from services.vpn_gateway.breaker import BreakerState, CircuitBreaker
from services.vpn_gateway.panels.base import PanelRateLimited, PanelRejected, PanelUnavailable


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any          # parsed JSON, or None for an empty or non-JSON body


class PanelHttp:
    def __init__(self, *, server: str, base_url: str, headers: Mapping[str, str] | None = None,
                 connect_timeout: float = 3.0, request_timeout: float = 10.0, retries: int = 2,
                 max_concurrency: int = 4, breaker: CircuitBreaker | None = None,
                 inline_retry_after: float = 5.0,
                 trace_configs: list[aiohttp.TraceConfig] | None = None) -> None:
        self.server = server
        self._base = base_url.rstrip("/")
        self._headers = dict(headers or {})
        self._timeout = aiohttp.ClientTimeout(total=request_timeout, sock_connect=connect_timeout)
        self.retries = retries
        self.breaker = breaker or CircuitBreaker()
        self.slots = asyncio.Semaphore(max_concurrency)
        self.max_concurrency = max_concurrency
        self._inline_retry_after = inline_retry_after
        self._trace_configs = trace_configs
        self._session: aiohttp.ClientSession | None = None
        self.in_flight = 0
        self.last_error: str | None = None
        self.last_latency: float | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_concurrency + 2)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, headers=self._headers,
                trace_configs=self._trace_configs, raise_for_status=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, path: str, *, route: str, json: Any = None,
                      params: Mapping[str, str] | None = None, expect: Iterable[int] = (200,),
                      tolerate: Iterable[int] = (), probe: bool = False) -> Reply:
        """One logical call. `expect`: success statuses; `tolerate`: statuses handed back for the
        caller to interpret (404 = absent, 409 = taken). A probe (health check) skips the
        concurrency limit and the breaker's gate, so a busy or open server can still be seen to
        be back, and its verdict closes or re-opens the breaker."""
        expected, tolerated = set(expect), set(tolerate)
        where = f"{self.server}: {method} {route}"
        attempt = 0
        while True:
            if not probe and not self.breaker.allow():
                raise PanelUnavailable(f"{self.server}: circuit open", retry_after=self.breaker.retry_in())
            try:
                reply = await self._attempt(method, path, json, params, probe)
            except asyncio.CancelledError:
                self.breaker.release_trial()
                raise
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                self.breaker.record_failure()
                reason = "timed out" if isinstance(exc, TimeoutError) else f"network error ({type(exc).__name__})"
                self.last_error = f"{where}: {reason}"
                if self._give_up(attempt, probe):
                    raise PanelUnavailable(self.last_error) from None
                attempt += 1
                await asyncio.sleep(_backoff(attempt))
                continue
            status = reply.status
            if status in expected or status in tolerated:
                self.breaker.record_success()
                self.last_error = None
                return reply
            if status == 429:
                # Alive but busy: not a failure of the server, and not a verdict either.
                self.breaker.release_trial()
                wait = _retry_after(reply.headers)
                self.last_error = f"{where}: 429, retry after {wait:g}s"
                if probe or attempt >= self.retries or wait > self._inline_retry_after:
                    raise PanelRateLimited(self.last_error, retry_after=wait)
                attempt += 1
                await asyncio.sleep(wait)
                continue
            if status >= 500:
                self.breaker.record_failure()
                self.last_error = f"{where}: HTTP {status}"
                if self._give_up(attempt, probe):
                    raise PanelUnavailable(self.last_error)
                attempt += 1
                await asyncio.sleep(_backoff(attempt))
                continue
            # Another 4xx: the panel is up and refuses this request; retrying now will not help.
            self.breaker.record_success()
            self.last_error = f"{where}: HTTP {status}{_panel_code(reply.body)}"
            raise PanelRejected(self.last_error)

    def _give_up(self, attempt: int, probe: bool) -> bool:
        # A probe asks once; a call stops early when its failures opened the breaker.
        return probe or attempt >= self.retries or self.breaker.state is not BreakerState.CLOSED

    async def _attempt(self, method: str, path: str, json: Any, params: Mapping[str, str] | None,
                       probe: bool) -> "_Raw":
        if probe:
            return await self._send(method, path, json, params)
        async with self.slots:
            return await self._send(method, path, json, params)

    async def _send(self, method: str, path: str, json: Any, params: Mapping[str, str] | None) -> "_Raw":
        session = self._get_session()
        data = None
        headers = None
        if json is not None:
            data = orjson.dumps(json)
            headers = {"Content-Type": "application/json"}
        started = time.monotonic()
        self.in_flight += 1
        try:
            async with session.request(method, self._base + path, data=data, params=params,
                                       headers=headers) as response:
                raw = await response.read()
                body: Any = None
                if raw and "json" in (response.content_type or ""):
                    try:
                        body = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        body = None
                return _Raw(response.status, body, dict(response.headers))
        finally:
            self.in_flight -= 1
            self.last_latency = time.monotonic() - started


@dataclass(frozen=True)
class _Raw(Reply):
    headers: dict[str, str]


def _backoff(attempt: int) -> float:
    return min(0.2 * 2 ** (attempt - 1), 2.0) * (0.75 + 0.5 * random.random())


def _retry_after(headers: Mapping[str, str]) -> float:
    value = headers.get("Retry-After", "").strip()
    if not value:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1.0
    return max(0.0, moment.timestamp() - time.time())


def _panel_code(body: Any) -> str:
    """The panel's own error code (never its message text, which may echo what we sent)."""
    if isinstance(body, dict):
        code = body.get("errorCode") or body.get("code")
        if isinstance(code, str) and len(code) <= 40:
            return f" ({code})"
    return ""


def panel_code(reply: Reply) -> str | None:
    if isinstance(reply.body, dict):
        code = reply.body.get("errorCode") or reply.body.get("code")
        return code if isinstance(code, str) else None
    return None
