"""The servers from ATCS_VPN_SERVERS, each with its backend, breaker and last health verdict,
and the choice of server for a new user: the least loaded one that is healthy and has room."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import aiohttp

from services.vpn_gateway.settings import VpnServer, VpnSettings
from services.vpn_gateway.panels.breaker import BreakerState, CircuitBreaker
from services.vpn_gateway.panels.base import PanelBackend
from services.vpn_gateway.panels.registry import build_backend

log = logging.getLogger(__name__)


@dataclass
class Server:
    config: VpnServer
    backend: PanelBackend
    breaker: CircuitBreaker
    healthy: bool | None = None          # None until the first probe
    health_detail: str = ""
    refused: bool = False                # refused until an operator acts (certificate, version)
    panel_version: str | None = None
    checked_at: float | None = None
    panel_accounts: int | None = None
    recoveries: int = field(default=0)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def kind(self) -> str:
        return self.config.backend

    def takes_new_users(self) -> bool:
        return (self.config.accepts_new and self.healthy is not False and not self.refused
                and self.breaker.state is not BreakerState.OPEN)

    def describe(self, load: int | None = None) -> dict[str, object]:
        # What `status` shows: nothing here may be a URL or a token.
        http = getattr(self.backend, "http", None)
        return {
            "backend": self.kind,
            "healthy": self.healthy,
            "detail": self.health_detail,
            "refused": self.refused,
            "panel_version": self.panel_version,
            "pinned": getattr(http, "pinned", False),
            "checked_ago": None if self.checked_at is None else round(time.monotonic() - self.checked_at, 1),
            "breaker": self.breaker.describe(),
            "in_flight": getattr(http, "in_flight", None),
            "max_concurrency": self.config.max_concurrency,
            "last_error": getattr(http, "last_error", None),
            "accepts_new": self.config.accepts_new,
            "capacity": self.config.capacity,
            "accounts": load,
            "panel_accounts": self.panel_accounts,
        }


class ServerPool:
    def __init__(self, servers: list[Server]) -> None:
        self._servers = {s.name: s for s in servers}
        self._on_recover: list[Callable[[Server], None]] = []
        self.loads: dict[str, int] = {}      # last known active accounts per server, for status

    @classmethod
    def from_settings(cls, settings: VpnSettings,
                      trace_configs: list[aiohttp.TraceConfig] | None = None) -> "ServerPool":
        pool = cls([])
        for config in settings.servers:
            server_ref: dict[str, Server] = {}

            def changed(before: BreakerState, after: BreakerState, _ref=server_ref) -> None:
                server = _ref.get("server")
                if server is not None:
                    pool._breaker_changed(server, before, after)

            breaker = CircuitBreaker(threshold=settings.vpn_breaker_threshold,
                                     cooldown=settings.vpn_breaker_cooldown,
                                     max_cooldown=max(settings.vpn_breaker_cooldown * 16, 60.0),
                                     on_change=changed)
            server = Server(config=config, backend=build_backend(config, breaker, trace_configs), breaker=breaker)
            server_ref["server"] = server
            pool._servers[server.name] = server
        return pool

    def __iter__(self):
        return iter(self._servers.values())

    def __len__(self) -> int:
        return len(self._servers)

    def get(self, name: str) -> Server | None:
        return self._servers.get(name)

    def on_recover(self, callback: Callable[[Server], None]) -> None:
        """Called when a server that was down answers again (work waiting on it can go now)."""
        self._on_recover.append(callback)

    def choose(self, loads: Mapping[str, int]) -> Server | None:
        """Least loaded (accounts / capacity, divided by weight) among servers taking new users."""
        self.loads = dict(loads)
        best: tuple[float, str] | None = None
        chosen: Server | None = None
        for server in self._servers.values():
            load = loads.get(server.name, 0)
            if not server.takes_new_users() or load >= server.config.capacity:
                continue
            score = (load / server.config.capacity) / server.config.weight
            if best is None or (score, server.name) < best:
                best, chosen = (score, server.name), server
        return chosen

    def retry_in(self) -> float:
        """When a server may take new users again, for work that found none."""
        waits = [s.breaker.retry_in() for s in self._servers.values()
                 if s.config.accepts_new and s.breaker.state is BreakerState.OPEN]
        return min(waits) if waits else 0.0

    async def probe(self, server: Server) -> None:
        health = await server.backend.health()
        was, was_refused, was_detail = server.healthy, server.refused, server.health_detail
        server.healthy = health.ok
        server.health_detail = health.detail
        server.refused = health.refused
        server.checked_at = time.monotonic()
        if health.version is not None:
            server.panel_version = health.version
        if health.accounts is not None:
            server.panel_accounts = health.accounts
        if health.ok and was is False:
            log.info("panel server is back", extra={"server": server.name})
            self._recovered(server)
        elif health.refused and not (was_refused and was_detail == health.detail):
            # An operator must act; the reason names the server, never its URL.
            log.error("panel server refused", extra={"server": server.name, "error": health.detail})
        elif not health.ok and was is not False:
            log.warning("panel server unhealthy", extra={"server": server.name, "error": health.detail})

    def readiness(self) -> tuple[bool, str]:
        """/readyz: not ready with no server, with a refused one (its reason), or with none answering."""
        if not len(self):
            return False, "ATCS_VPN_SERVERS is empty: no VPN panel to provision keys on"
        refused = [s.health_detail for s in self._servers.values() if s.refused]
        if refused:
            return False, "; ".join(refused)
        if not any(s.healthy is not False for s in self._servers.values()):
            return False, "no VPN panel answers"
        return True, ""

    async def probe_all(self, timeout: float) -> None:
        async def one(server: Server) -> None:
            try:
                async with asyncio.timeout(timeout):
                    await self.probe(server)
            except TimeoutError:
                server.healthy, server.health_detail = False, "health probe timed out"
                server.checked_at = time.monotonic()
        await asyncio.gather(*(one(s) for s in self._servers.values()))

    def _breaker_changed(self, server: Server, before: BreakerState, after: BreakerState) -> None:
        if after is BreakerState.OPEN:
            log.warning("panel circuit opened", extra={"server": server.name, "retry_in": round(server.breaker.retry_in(), 1)})
        elif after is BreakerState.CLOSED and before is not BreakerState.CLOSED:
            log.info("panel circuit closed", extra={"server": server.name})
            self._recovered(server)

    def _recovered(self, server: Server) -> None:
        server.recoveries += 1
        for callback in self._on_recover:
            try:
                callback(server)
            except Exception:  # noqa: BLE001 - a recovery hook must not break the probe
                log.exception("recovery hook failed")

    def describe(self) -> dict[str, object]:
        return {name: s.describe(self.loads.get(name)) for name, s in self._servers.items()}

    async def close(self) -> None:
        await asyncio.gather(*(s.backend.close() for s in self._servers.values()), return_exceptions=True)
