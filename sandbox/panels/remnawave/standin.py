"""``RemnawaveStandIn``: a local Remnawave panel (v3.2.3 user API) on loopback.

URL layout (``<base>`` is ``.url``):

    <base>/api/...                        the panel API, see sandbox.panels.remnawave.api
    <base>/api/sub/<shortUuid>            subscriptions (the users' ``subscriptionUrl``)
    <base>/_control/...                   stats, reset, clock, faults (sandbox.panels.base) plus
    POST <base>/_control/users/{id}/traffic   {"bytes": N}: the user moved N more bytes
    POST <base>/_control/users/{id}/devices   {"hwid", "platform"?, "model"?, "os_version"?}: a VPN app
                                              fetched the subscription from that device (409: the limit)

The gateway config points the panel URL at ``<base>`` with the same token.
"""

from __future__ import annotations

from typing import Optional

from aiohttp import web

from sandbox.panels.base import PanelStandIn, template_key
from sandbox.panels.remnawave import errors
from sandbox.panels.remnawave.api import CATCH_ALL, RemnawaveApi
from sandbox.panels.remnawave.hwid import DeviceLimitReached, HwidDevices
from sandbox.panels.remnawave.users import UserNotFound, UserStore


class RemnawaveStandIn(PanelStandIn):
    create_routes = ("POST /api/users",)
    default_version = "3.2.3"

    def __init__(
        self,
        token: str = "sandbox-remnawave-api-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        version: Optional[str] = None,
        subscription_base: Optional[str] = None,
    ) -> None:
        super().__init__(host=host, port=port, tls=tls, version=version)
        self.token = token
        self._subscription_base = subscription_base
        self.users = UserStore(self.clock)
        self.hwid = HwidDevices()
        self._api = RemnawaveApi(self)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def subscription_base(self) -> str:
        # The panel's default SUB_PUBLIC_DOMAIN is "<panel domain>/api/sub".
        return (self._subscription_base or f"{self.url}/api/sub").rstrip("/")

    # ---- PanelStandIn ------------------------------------------------------
    def add_api_routes(self, app: web.Application) -> None:
        self._api.add_routes(app)

    def api_middlewares(self) -> list:
        return [self._api.auth_middleware, self._api.error_middleware]

    def route_key(self, request: web.Request) -> Optional[str]:
        if request.match_info.route.name == CATCH_ALL or not request.path.startswith("/api/"):
            return None
        return template_key(request)

    def error_body(self, request: web.Request, status: int) -> web.Response:
        return errors.fault_error(request, status, self.clock)

    def account_count(self) -> int:
        return len(self.users)

    def reset_accounts(self) -> None:
        self.users.reset()
        self.hwid.reset()

    def add_panel_control_routes(self, app: web.Application) -> None:
        async def traffic(request: web.Request) -> web.Response:
            try:
                user_id = int(request.match_info["user_id"])
                body = await request.json()
                user = self.add_traffic(user_id, int(body["bytes"]))
            except UserNotFound:
                return web.json_response({"error": "no such user"}, status=404)
            except (ValueError, TypeError, KeyError) as exc:
                return web.json_response({"error": f"bad request: {exc}"}, status=400)
            return web.json_response({"response": user})

        async def device(request: web.Request) -> web.Response:
            try:
                user_id = int(request.match_info["user_id"])
                body = await request.json()
                seen = self.connect_device(user_id, str(body["hwid"]), platform=body.get("platform"),
                                           model=body.get("model"), os_version=body.get("os_version"))
            except UserNotFound:
                return web.json_response({"error": "no such user"}, status=404)
            except DeviceLimitReached:
                return web.json_response({"error": "device limit reached"}, status=409)
            except (ValueError, TypeError, KeyError) as exc:
                return web.json_response({"error": f"bad request: {exc}"}, status=400)
            return web.json_response({"response": seen})

        app.router.add_post("/_control/users/{user_id}/traffic", traffic)
        app.router.add_post("/_control/users/{user_id}/devices", device)

    # ---- control, mirrored in Python ----------------------------------------
    def add_traffic(self, user_id: int, bytes_used: int) -> dict:
        if bytes_used < 0:
            raise ValueError("bytes must not be negative")
        user = self.users.add_traffic(self.users.by_id(user_id), bytes_used)
        return user.to_api(self.subscription_base)

    def connect_device(self, user_id: int, hwid: str, *, platform: Optional[str] = None, model: Optional[str] = None,
                       os_version: Optional[str] = None) -> dict:
        """A VPN app on device `hwid` fetched the user's subscription (what GET /api/sub does with
        an x-hwid header); DeviceLimitReached when the user's limit has no room for it."""
        user = self.users.by_id(user_id)
        if user.status != "ACTIVE":
            raise ValueError(f"user is {user.status}")
        return self.hwid.see(user.id, user.hwid_device_limit, hwid, self.clock.now(), platform=platform,
                             os_version=os_version, model=model).to_api(user.id)

    def devices(self, user_id: int) -> list[dict]:
        return self.hwid.page(user_id)["response"]["devices"]

    def user(self, user_id: int) -> dict:
        return self.users.by_id(user_id).to_api(self.subscription_base)
