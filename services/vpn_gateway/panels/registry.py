"""Which backend class serves which `backend` value of ATCS_VPN_SERVERS.

Marzban and 3x-ui (specs in ../shared/specs/) come later: one module each implementing
PanelBackend, one line here, and their name added to VpnServer.backend in common/config.py.
"""
from __future__ import annotations

import aiohttp

from common.config import VpnServer
from services.vpn_gateway.breaker import CircuitBreaker
from services.vpn_gateway.panels.base import PanelBackend
from services.vpn_gateway.panels.http import PanelHttp
from services.vpn_gateway.panels.outline import OutlineBackend
from services.vpn_gateway.panels.remnawave import RemnawaveBackend


def build_backend(server: VpnServer, breaker: CircuitBreaker,
                  trace_configs: list[aiohttp.TraceConfig] | None = None) -> PanelBackend:
    headers: dict[str, str] = {"Accept": "application/json"}
    if server.backend == "remnawave" and server.token is not None:
        headers["Authorization"] = f"Bearer {server.token.get_secret_value()}"
    http = PanelHttp(server=server.name, base_url=server.api_url.get_secret_value(), headers=headers,
                     connect_timeout=server.connect_timeout, request_timeout=server.request_timeout,
                     retries=server.retries, max_concurrency=server.max_concurrency, breaker=breaker,
                     trace_configs=trace_configs)
    if server.backend == "outline":
        return OutlineBackend(http)
    if server.backend == "remnawave":
        return RemnawaveBackend(http, squads=server.squads)
    raise ValueError(f"backend {server.backend!r} is not implemented")
