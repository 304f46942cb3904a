"""The HTTP core every panel client shares: one aiohttp session per server, its concurrency
limit and timeouts, retries with backoff on 5xx, network errors and 429 (honouring
Retry-After), and the server's circuit breaker.

Errors carry the server name, the route template and the status, never the URL (Outline's URL
holds its secret path) nor a response body (it may hold a key).

Panels that log in (Marzban's OAuth2 password flow) pass a `PanelAuth`: its header goes on every
request, and a 401 makes it log in again once per call (the token expired or was revoked).

TLS: a server with `cert_sha256` is reached only when the SHA-256 of its certificate (DER)
matches, whatever its chain or hostname (aiohttp.Fingerprint: verification by chain and
hostname is replaced by the pin, checked after the handshake, before a byte of the request is
sent). Without a pin the system CAs verify the panel as usual. A certificate we do not trust is
`PanelRefused` (never retried inline; the breaker opens at once) and never a fallback to no
verification.

A backend with a `VersionGate` (versions.py) has its panel's version checked before the first
call and at every health probe; calls to a panel of another version are refused.
"""
from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from services.vpn_gateway.panels.breaker import BreakerState, CircuitBreaker
from services.vpn_gateway.panels.base import (
    PanelError, PanelHealth, PanelRateLimited, PanelRefused, PanelRejected, PanelUnavailable,
)
from services.vpn_gateway.panels.versions import VersionGate


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any          # parsed JSON, or None for an empty or non-JSON body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class PanelAuth:
    """A bearer token got by logging in, shared by all requests to one server. `login(probe)`
    returns a new token (a probe's login is a probe too, so an open breaker can still close);
    concurrent requests wait for one login instead of each logging in.

    A panel with a cookie session (3x-ui) passes `cookies=True` (the session keeps the cookie
    in its jar and does not follow redirects, which is how some panels say "log in"), its own
    `header` for the token (a CSRF token) and the statuses that mean the session is gone."""

    def __init__(self, login: Callable[[bool], Awaitable[str]], *,
                 header: Callable[[str], dict[str, str]] = _bearer, expired_statuses: Iterable[int] = (401,),
                 cookies: bool = False) -> None:
        self._login = login
        self._header = header
        self.expired_statuses = frozenset(expired_statuses)
        self.cookies = cookies
        self._token: str | None = None
        self._lock = asyncio.Lock()

    async def header(self, probe: bool = False) -> dict[str, str]:
        async with self._lock:
            if self._token is None:
                self._token = await self._login(probe)
            return self._header(self._token)

    def expired(self, header: Mapping[str, str]) -> None:
        """The panel refused this header (401): forget its token unless another request
        already replaced it."""
        if self._token is not None and dict(header) == self._header(self._token):
            self._token = None


class PanelHttp:
    def __init__(self, *, server: str, base_url: str, headers: Mapping[str, str] | None = None,
                 connect_timeout: float = 3.0, request_timeout: float = 10.0, retries: int = 2,
                 max_concurrency: int = 4, breaker: CircuitBreaker | None = None,
                 inline_retry_after: float = 5.0, auth: PanelAuth | None = None,
                 trace_configs: list[aiohttp.TraceConfig] | None = None, cert_sha256: str | None = None) -> None:
        self.server = server
        # True: the system CAs verify the certificate and its hostname.
        self._tls: aiohttp.Fingerprint | bool = aiohttp.Fingerprint(bytes.fromhex(cert_sha256)) if cert_sha256 else True
        self.pinned = cert_sha256 is not None
        self.gate: VersionGate | None = None
        self._base = base_url.rstrip("/")
        self._headers = dict(headers or {})
        self._timeout = aiohttp.ClientTimeout(total=request_timeout, sock_connect=connect_timeout)
        self.retries = retries
        self.breaker = breaker or CircuitBreaker()
        self.slots = asyncio.Semaphore(max_concurrency)
        self.max_concurrency = max_concurrency
        self._inline_retry_after = inline_retry_after
        self._trace_configs = trace_configs
        self.auth = auth
        self._session: aiohttp.ClientSession | None = None
        self.in_flight = 0
        self.last_error: str | None = None
        self.last_latency: float | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_concurrency + 2, ssl=self._tls)
            # unsafe=True: panels are often addressed by IP, where the default jar drops cookies.
            jar = aiohttp.CookieJar(unsafe=True) if self._cookies() else aiohttp.DummyCookieJar()
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, headers=self._headers, cookie_jar=jar,
                trace_configs=self._trace_configs, raise_for_status=False)
        return self._session

    def _cookies(self) -> bool:
        return self.auth is not None and self.auth.cookies

    def forget_cookies(self) -> None:
        """Drop the session cookie (before logging in again)."""
        if self._session is not None:
            self._session.cookie_jar.clear()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, path: str, *, route: str, json: Any = None,
                      form: Mapping[str, str] | None = None,
                      params: Mapping[str, str] | None = None, expect: Iterable[int] = (200,),
                      tolerate: Iterable[int] = (), probe: bool = False, authenticate: bool = True) -> Reply:
        """One logical call. `expect`: success statuses; `tolerate`: statuses handed back for the
        caller to interpret (404 = absent, 409 = taken). A probe (health check) skips the
        concurrency limit and the breaker's gate, so a busy or open server can still be seen to
        be back, and its verdict closes or re-opens the breaker. `form` sends a urlencoded body
        instead of JSON; `authenticate=False` leaves out the PanelAuth header (the login itself)."""
        expected, tolerated = set(expect), set(tolerate)
        where = f"{self.server}: {method} {route}"
        attempt = 0
        relogged = False
        while True:
            if not probe and not self.breaker.allow():
                raise PanelUnavailable(f"{self.server}: circuit open", retry_after=self.breaker.retry_in())
            try:
                if not probe and self.gate is not None:
                    await self.gate.admit()
                auth = await self.auth.header(probe) if self.auth is not None and authenticate else None
                reply = await self._attempt(method, path, json, form, params, auth, probe)
            except asyncio.CancelledError:
                self.breaker.release_trial()
                raise
            except PanelError:
                self.breaker.release_trial()      # the version check or the login gave the verdict
                raise
            except aiohttp.ServerFingerprintMismatch as exc:
                raise self._untrusted(f"{self.server}: TLS certificate does not match cert_sha256 "
                                      f"(the panel presents {exc.got.hex().upper()})") from None
            except aiohttp.ClientConnectorCertificateError as exc:
                raise self._untrusted(f"{self.server}: TLS certificate not trusted by the system CAs "
                                      f"({_verify_message(exc)}); a self-signed panel needs cert_sha256") from None
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
            if auth is not None and self.auth is not None and status in self.auth.expired_statuses and not relogged:
                # The token expired (or the panel restarted with a new secret): log in once more.
                assert self.auth is not None
                self.breaker.record_success()       # it answered: alive
                self.auth.expired(auth)
                relogged = True
                continue
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
            code = panel_code(reply)
            self.last_error = f"{where}: HTTP {status}" + (f" ({code})" if code else "")
            raise PanelRejected(self.last_error)

    def _untrusted(self, reason: str) -> PanelRefused:
        # Asking again gets the same certificate: no retry, and the breaker opens now, so that
        # pending work waits on its cooldown instead of each item trying the handshake.
        self.breaker.trip()
        self.last_error = reason
        return PanelRefused(reason)

    def _give_up(self, attempt: int, probe: bool) -> bool:
        # A probe asks once; a call stops early when its failures opened the breaker.
        return probe or attempt >= self.retries or self.breaker.state is not BreakerState.CLOSED

    async def _attempt(self, method: str, path: str, json: Any, form: Mapping[str, str] | None,
                       params: Mapping[str, str] | None, auth: Mapping[str, str] | None, probe: bool) -> "_Raw":
        if probe:
            return await self._send(method, path, json, form, params, auth)
        async with self.slots:
            return await self._send(method, path, json, form, params, auth)

    async def _send(self, method: str, path: str, json: Any, form: Mapping[str, str] | None,
                    params: Mapping[str, str] | None, auth: Mapping[str, str] | None) -> "_Raw":
        session = self._get_session()
        data: Any = None
        headers: dict[str, str] = dict(auth or {})
        if json is not None:
            data = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urlencode(dict(form)).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.monotonic()
        self.in_flight += 1
        try:
            async with session.request(method, self._base + path, data=data, params=params,
                                       headers=headers or None, allow_redirects=not self._cookies()) as response:
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


def _verify_message(exc: aiohttp.ClientConnectorCertificateError) -> str:
    error = exc.certificate_error
    return str(getattr(error, "verify_message", "") or type(error).__name__)


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


def panel_code(reply: Reply) -> str | None:
    """The panel's own error code (never its message text, which may echo what we sent)."""
    if isinstance(reply.body, dict):
        code = reply.body.get("errorCode") or reply.body.get("code")
        if isinstance(code, str) and len(code) <= 40:
            return code
    return None


async def checked_health(http: PanelHttp, probe: Callable[[], Awaitable[PanelHealth]]) -> PanelHealth:
    """A health verdict: the panel's version first (where the backend has a gate), then the
    backend's own probe. A refused panel (certificate, version) is a verdict an operator must act
    on; a rate-limited one is alive."""
    try:
        if http.gate is not None:
            await http.gate.check()
            if http.gate.refusal is not None:
                return PanelHealth(ok=False, refused=True, detail=http.gate.refusal, version=http.gate.version)
        health = await probe()
    except PanelRateLimited:
        return PanelHealth(ok=True, detail="rate limited")   # busy, but alive
    except PanelRefused as exc:
        return PanelHealth(ok=False, refused=True, detail=str(exc))
    except PanelError as exc:
        return PanelHealth(ok=False, detail=str(exc))
    version = http.gate.version if http.gate is not None else None
    return PanelHealth(ok=health.ok, detail=health.detail, accounts=health.accounts, version=version)


async def read_page(http: PanelHttp, path: str, *, params: Mapping[str, str],
                    page: Callable[[Any], Any]) -> PanelHealth:
    """A health probe that reads one page of users: `page` picks the object holding `total`
    out of the answer (None when the answer is not the panel's). Errors are raised."""
    reply = await http.request("GET", path, route=path, params=params, expect=(200,), probe=True)
    found = page(reply.body)
    if not isinstance(found, dict):
        return PanelHealth(ok=False, detail=f"{http.server}: unexpected {path} answer")
    total = found.get("total")
    return PanelHealth(ok=True, accounts=int(total) if isinstance(total, (int, float)) else None)
