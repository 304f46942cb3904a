"""Fault injection for the stand-ins: latency, 5xx, 429 with Retry-After, outage.

The real Crypto Pay API and VPN panels are slow, fail, rate-limit and vanish;
the services have to survive all of it. A fault targets one route (or ``*`` for
every API route), may be limited to the next ``times`` matching requests, and
is applied by an aiohttp middleware before the request reaches the API logic,
the way a broken upstream or proxy would behave. ``after`` lets that many
matching requests through first: a service that goes away in the middle of a
client's run of calls.

Route names: each stand-in turns a request into a key such as
``createInvoice`` (Crypto Pay) or ``POST /access-keys/{id}`` (panels). A fault
route matches when it equals the key, equals the key's path part (any HTTP
method), or is ``*``.

Control API (mounted by each stand-in under ``/_control/faults``):
    GET    /_control/faults          list active faults
    POST   /_control/faults          add one: {"route", "kind", "latency", "status", "retry_after", "times", "after"}
    DELETE /_control/faults          remove all
    DELETE /_control/faults/{id}     remove one
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import asdict, dataclass, field
from typing import Awaitable, Callable, Optional

from aiohttp import web

KINDS = ("latency", "error", "rate_limit", "outage")

# Builds the body of an injected error response in the stand-in's own dialect.
ErrorBodyFactory = Callable[[web.Request, int], web.Response]


@dataclass
class Fault:
    route: str = "*"
    kind: str = "error"
    latency: float = 0.0  # seconds, for kind == "latency"
    status: int = 500  # for kind == "error"
    retry_after: int = 1  # seconds, for kind == "rate_limit"
    times: Optional[int] = None  # None: until removed
    after: int = 0  # matching requests let through before the fault starts
    id: int = 0
    applied: int = field(default=0)
    passed: int = field(default=0)

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if self.kind == "error" and not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error status")
        if self.latency < 0 or self.retry_after < 0:
            raise ValueError("latency and retry_after must not be negative")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be a positive integer or null")
        if not isinstance(self.after, int) or self.after < 0:
            raise ValueError("after must be a non-negative integer")

    def matches(self, key: str) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        path = key.split(" ", 1)[-1]
        return self.route in ("*", key, path)

    def to_json(self) -> dict:
        return asdict(self)


class FaultRegistry:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, **spec) -> Fault:
        allowed = {"route", "kind", "latency", "status", "retry_after", "times", "after"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        fault = Fault(**spec)
        fault.validate()
        fault.id = next(self._ids)
        self._faults.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()

    def list(self) -> list[dict]:
        return [f.to_json() for f in self._faults]

    def take(self, key: str) -> tuple[float, Optional[Fault]]:
        """Consume the faults that apply to one request.

        Returns the total added latency and the first terminal fault (error,
        rate_limit or outage), if any. Latency faults add up and do not stop
        a terminal fault from also applying, so "slow and then 503" can be built.
        """
        delay = 0.0
        terminal: Optional[Fault] = None
        for fault in self._faults:
            if not fault.matches(key):
                continue
            if fault.passed < fault.after:
                fault.passed += 1
                continue
            if fault.kind == "latency":
                fault.applied += 1
                delay += fault.latency
            elif terminal is None:
                fault.applied += 1
                terminal = fault
        return delay, terminal


def drop_connection(request: web.Request) -> web.Response:
    """Simulate an outage: the TCP connection dies without an HTTP answer.

    Aborting the transport makes the client see a disconnect (aiohttp raises
    ServerDisconnectedError). The response returned here is never written.
    """
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=503)


def proxy_error_page(status: int) -> web.Response:
    """502/503/504 usually come from the reverse proxy in front of the real
    service, as HTML rather than the API's JSON: clients must cope with that."""
    reasons = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
    reason = reasons.get(status, "Error")
    html = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return web.Response(status=status, text=html, content_type="text/html")


def fault_middleware(
    registry: FaultRegistry,
    route_key: Callable[[web.Request], Optional[str]],
    error_body: ErrorBodyFactory,
):
    """aiohttp middleware applying the registry's faults to API routes.

    ``route_key`` returns None for routes that faults never touch (control
    endpoints, pages), so tests can always reach the control API.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        key = route_key(request)
        if key is None:
            return await handler(request)
        delay, fault = registry.take(key)
        if delay:
            # Simulated upstream slowness, not synchronisation.
            await asyncio.sleep(delay)
        if fault is None or fault.kind == "latency":
            return await handler(request)
        if fault.kind == "outage":
            return drop_connection(request)
        if fault.kind == "rate_limit":
            response = error_body(request, 429)
            response.headers["Retry-After"] = str(fault.retry_after)
            return response
        if fault.status in (502, 503, 504):
            return proxy_error_page(fault.status)
        return error_body(request, fault.status)

    return middleware


def add_fault_routes(app: web.Application, registry: FaultRegistry, prefix: str = "/_control") -> None:
    async def list_faults(request: web.Request) -> web.Response:
        return web.json_response({"faults": registry.list()})

    async def add_fault(request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            if not isinstance(spec, dict):
                raise ValueError("body must be a JSON object")
            fault = registry.add(**spec)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(fault.to_json(), status=201)

    async def clear_faults(request: web.Request) -> web.Response:
        registry.clear()
        return web.json_response({"faults": []})

    async def remove_fault(request: web.Request) -> web.Response:
        try:
            fault_id = int(request.match_info["fault_id"])
        except ValueError:
            return web.json_response({"error": "fault id must be an integer"}, status=400)
        if not registry.remove(fault_id):
            return web.json_response({"error": "no such fault"}, status=404)
        return web.json_response({"removed": fault_id})

    app.router.add_get(f"{prefix}/faults", list_faults)
    app.router.add_post(f"{prefix}/faults", add_fault)
    app.router.add_delete(f"{prefix}/faults", clear_faults)
    app.router.add_delete(f"{prefix}/faults/{{fault_id}}", remove_fault)
