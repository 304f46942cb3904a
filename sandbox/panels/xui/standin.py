"""``XuiStandIn``: a local 3x-ui panel (v3.6.0 login, inbound and client API) on loopback.

URL layout (``<base>`` is ``.url``; the gateway's ``api_url`` is ``<base>``):

    <base>/login, /csrf-token, /panel/api/...   the panel, see sandbox.panels.xui.api
    <base>/sub/<subId>                          subscriptions
    <base>/_control/...                         stats, reset, clock, faults (sandbox.panels.base) plus
    POST <base>/_control/sessions/expire        every login session ends (as after a panel restart)
    POST <base>/_control/clients/{email}/traffic   {"bytes": N}: the client moved N more bytes

One VLESS Reality inbound (``inbound_id``, default 1) exists from the start; ``add_inbound``
makes more (e.g. a Trojan one).
"""

from __future__ import annotations

from typing import Optional

from aiohttp import web

from sandbox.panels.base import PanelStandIn, template_key
from sandbox.panels.xui.api import CATCH_ALL, XuiApi, envelope
from sandbox.panels.xui.clients import ClientNotFound, ClientStore, Inbound


class XuiStandIn(PanelStandIn):
    create_routes = ("POST /panel/api/clients/add",)
    default_version = "3.6.0"

    def __init__(
        self,
        username: str = "admin",
        password: str = "admin",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        version: Optional[str] = None,
        inbound_id: int = 1,
        session_ttl: float = 3600.0,
        api_token: Optional[str] = None,
        share_host: Optional[str] = None,
    ) -> None:
        super().__init__(host=host, port=port, tls=tls, version=version)
        self.username, self.password = username, password
        self.session_ttl = session_ttl
        self.api_token = api_token
        self.share_host = share_host
        self.inbound_id = inbound_id
        self.clients = ClientStore(self.clock)
        self.add_inbound(inbound_id)
        self._api = XuiApi(self)

    def add_inbound(self, inbound_id: int, protocol: str = "vless", port: Optional[int] = None) -> Inbound:
        port = port or 443 + len(self.clients.inbounds)
        inbound = Inbound(id=inbound_id, protocol=protocol, port=port, remark=f"{protocol.upper()}-{port}")
        self.clients.inbounds[inbound_id] = inbound
        return inbound

    # ---- PanelStandIn ------------------------------------------------------
    def add_api_routes(self, app: web.Application) -> None:
        self._api.add_routes(app)

    def api_middlewares(self) -> list:
        return [self._api.auth_middleware]

    def route_key(self, request: web.Request) -> Optional[str]:
        if request.match_info.route.name == CATCH_ALL or request.path.startswith(("/_control", "/sub/")):
            return None
        return template_key(request)

    def error_body(self, request: web.Request, status: int) -> web.Response:
        return envelope(False, f"Injected fault: HTTP {status}", status=status)

    def account_count(self) -> int:
        return len(self.clients)

    def reset_accounts(self) -> None:
        self.clients.reset()
        self._api.expire_sessions()

    def add_panel_control_routes(self, app: web.Application) -> None:
        async def expire(request: web.Request) -> web.Response:
            return web.json_response({"expired": self.expire_sessions()})

        async def traffic(request: web.Request) -> web.Response:
            try:
                body = await request.json()
                client = self.add_traffic(request.match_info["email"], int(body["bytes"]))
            except ClientNotFound:
                return web.json_response({"error": "no such client"}, status=404)
            except (ValueError, TypeError, KeyError) as exc:
                return web.json_response({"error": f"bad request: {exc}"}, status=400)
            return web.json_response({"client": client})

        app.router.add_post("/_control/sessions/expire", expire)
        app.router.add_post("/_control/clients/{email}/traffic", traffic)

    # ---- control, mirrored in Python ----------------------------------------
    def expire_sessions(self) -> int:
        """Every login session ends; the next API call gets the panel's 404."""
        return self._api.expire_sessions()

    def sessions(self) -> int:
        return len(self._api.sessions)

    @property
    def issued_secrets(self) -> list[str]:
        """Every session cookie and CSRF token the panel handed out (for leak checks)."""
        return list(self._api.issued)

    def add_traffic(self, email: str, bytes_used: int) -> dict:
        if bytes_used < 0:
            raise ValueError("bytes must not be negative")
        return self.clients.add_traffic(email, bytes_used).record()

    def client(self, email: str) -> dict:
        return self.clients.by_email(email).record()
