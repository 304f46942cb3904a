"""Which backend class serves which `backend` value of ATCS_VPN_SERVERS.

Outline, Remnawave, Marzban (admin login per server, see panels/marzban.py) and 3x-ui (cookie
session login, clients of one inbound, see panels/xui.py). A new panel is one module
implementing PanelBackend, one line here, and its name added to VpnServer.backend in
services/vpn_gateway/settings.py.
"""
from __future__ import annotations

import aiohttp

from services.vpn_gateway.settings import VpnServer
from services.vpn_gateway.panels.breaker import CircuitBreaker
from services.vpn_gateway.panels.base import PanelBackend
from services.vpn_gateway.panels.http import PanelHttp
from services.vpn_gateway.panels.marzban import MarzbanBackend
from services.vpn_gateway.panels.outline import OutlineBackend
from services.vpn_gateway.panels.remnawave import RemnawaveBackend
from services.vpn_gateway.panels.xui import XuiBackend


def build_backend(server: VpnServer, breaker: CircuitBreaker,
                  trace_configs: list[aiohttp.TraceConfig] | None = None) -> PanelBackend:
    headers: dict[str, str] = {"Accept": "application/json"}
    if server.backend == "remnawave" and server.token is not None:
        headers["Authorization"] = f"Bearer {server.token.get_secret_value()}"
    http = PanelHttp(server=server.name, base_url=server.api_url.get_secret_value(), headers=headers,
                     connect_timeout=server.connect_timeout, request_timeout=server.request_timeout,
                     retries=server.retries, max_concurrency=server.max_concurrency, breaker=breaker,
                     trace_configs=trace_configs, cert_sha256=server.cert_sha256)
    if server.backend == "outline":
        return OutlineBackend(http)
    if server.backend == "remnawave":
        return RemnawaveBackend(http, squads=server.squads)
    if server.backend == "marzban" and server.admin_username is not None and server.admin_password is not None:
        return MarzbanBackend(http, admin_username=server.admin_username.get_secret_value(),
                              admin_password=server.admin_password.get_secret_value(), proxies=list(server.proxies),
                              base_url=server.api_url.get_secret_value())
    if server.backend == "3x-ui" and server.admin_username and server.admin_password and server.inbound_id:
        return XuiBackend(http, username=server.admin_username.get_secret_value(),
                          password=server.admin_password.get_secret_value(), inbound_id=server.inbound_id,
                          flow=server.flow)
    raise ValueError(f"backend {server.backend!r} is not implemented")
