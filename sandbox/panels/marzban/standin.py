"""``MarzbanStandIn``: a local Marzban panel (0.8.4 admin and user API) on loopback.

URL layout (``<base>`` is ``.url``):

    <base>/api/...                        the panel API, see sandbox.panels.marzban.api
    <base>/sub/<token>/                   subscriptions (the users' ``subscription_url``)
    <base>/_control/...                   stats, reset, clock, faults (sandbox.panels.base) plus
    POST <base>/_control/users/{username}/traffic   {"bytes": N[, "node": name]}: the user moved N more bytes
    POST <base>/_control/tokens/expire    every admin access token issued so far stops working

The gateway config points the panel URL at ``<base>`` with the same admin
username and password. Access tokens expire after ``token_ttl`` seconds of the
stand-in's clock (Marzban's default is a day).
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import Optional

from aiohttp import web

from sandbox.panels.base import PanelStandIn, template_key
from sandbox.panels.marzban import errors
from sandbox.panels.marzban.api import CATCH_ALL, MarzbanApi, new_access_token
from sandbox.panels.marzban.users import PROTOCOLS, User, UserNotFound, UserStore


class MarzbanStandIn(PanelStandIn):
    create_routes = ("POST /api/user",)
    default_version = "0.8.4"

    def __init__(
        self,
        admin_username: str = "admin",
        admin_password: str = "sandbox-marzban-password",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        version: Optional[str] = None,
        token_ttl: float = 86400.0,
        subscription_prefix: str = "",
        protocols: tuple[str, ...] = PROTOCOLS,
    ) -> None:
        super().__init__(host=host, port=port, tls=tls, version=version)
        self.admin_username = admin_username
        self.admin_password = admin_password
        self.token_ttl = timedelta(seconds=token_ttl)
        self.subscription_prefix = subscription_prefix.rstrip("/")
        self.protocols = tuple(protocols)
        self.users = UserStore(self.clock)
        self.logins = 0
        self._tokens: dict[str, datetime] = {}
        self._api = MarzbanApi(self)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    # ---- admin tokens ---------------------------------------------------------
    def admin_matches(self, username: str, password: str) -> bool:
        return hmac.compare_digest(username.encode(), self.admin_username.encode()) and hmac.compare_digest(
            password.encode(), self.admin_password.encode())

    def issue_token(self) -> str:
        token = new_access_token()
        self._tokens[token] = self.clock.now() + self.token_ttl
        self.logins += 1
        return token

    def token_valid(self, token: str) -> bool:
        expires = self._tokens.get(token)
        return expires is not None and expires > self.clock.now()

    @property
    def issued_tokens(self) -> list[str]:
        return list(self._tokens)

    def expire_tokens(self) -> None:
        self._tokens.clear()

    def subscription_url(self, user: User) -> str:
        # Relative unless XRAY_SUBSCRIPTION_URL_PREFIX is set, as the panel prints it.
        return f"{self.subscription_prefix}/sub/{self.users.token(user)}"

    # ---- PanelStandIn ------------------------------------------------------
    def add_api_routes(self, app: web.Application) -> None:
        self._api.add_routes(app)

    def api_middlewares(self) -> list:
        return [self._api.error_middleware, self._api.auth_middleware]

    def route_key(self, request: web.Request) -> Optional[str]:
        if request.match_info.route.name == CATCH_ALL or not request.path.startswith(("/api/", "/sub/")):
            return None
        return template_key(request)

    def error_body(self, request: web.Request, status: int) -> web.Response:
        return errors.fault_error(request, status)

    def account_count(self) -> int:
        return len(self.users)

    def reset_accounts(self) -> None:
        self.users.reset()      # admin tokens stay valid: a reset is of the panel's users, not of its admins

    def add_panel_control_routes(self, app: web.Application) -> None:
        async def traffic(request: web.Request) -> web.Response:
            try:
                body = await request.json()
                user = self.add_traffic(request.match_info["username"], int(body["bytes"]), body.get("node", "Master"))
            except UserNotFound:
                return web.json_response({"error": "no such user"}, status=404)
            except (ValueError, TypeError, KeyError) as exc:
                return web.json_response({"error": f"bad request: {exc}"}, status=400)
            return web.json_response(user)

        async def expire(request: web.Request) -> web.Response:
            self.expire_tokens()
            return web.json_response({"expired": True})

        app.router.add_post("/_control/users/{username}/traffic", traffic)
        app.router.add_post("/_control/tokens/expire", expire)

    # ---- control, mirrored in Python ----------------------------------------
    def add_traffic(self, username: str, bytes_used: int, node: str = "Master") -> dict:
        if bytes_used < 0:
            raise ValueError("bytes must not be negative")
        user = self.users.add_traffic(self.users.get(username), bytes_used, node)
        return user.to_api(self.subscription_url(user))

    def user(self, username: str) -> dict:
        user = self.users.get(username)
        return user.to_api(self.subscription_url(user))
