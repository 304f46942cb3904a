"""3x-ui v3.6.0 API, as ``../shared/specs/3x-ui-openapi.json`` has it (the part ATCS uses).

    POST /login                                  {username, password, twoFactorCode} (JSON or form)
                                                 -> {success, msg, obj} + session cookie "3x-ui"; 400 when wrong
    POST /logout                                 forget the session
    GET  /csrf-token                             obj: the session's CSRF token
    GET  /panel/api/server/status                obj: machine snapshot, with panelVersion
    GET  /panel/api/inbounds/list
    GET  /panel/api/inbounds/get/{id}
    POST /panel/api/clients/add                  {client, inboundIds}
    POST /panel/api/clients/update/{email}       a whole Client (the row is replaced)
    POST /panel/api/clients/del/{email}?keepTraffic=0|1
    GET  /panel/api/clients/get/{email}          obj: {client: ClientRecord, inboundIds}
    GET  /panel/api/clients/traffic/{email}      obj: ClientTraffic
    GET  /panel/api/clients/links/{email}        obj: [share link, ...]
    GET  /sub/{subId}                            the subscription (public): base64 of the links

Answers are envelopes, HTTP 200 even when the panel refuses (``success: false`` and a ``msg``).
``/panel/api/*`` wants the session cookie (or ``Authorization: Bearer <API token>`` when one
is configured); without a live session it answers 404 with no body (401 for callers sending
``X-Requested-With: XMLHttpRequest``), as the panel does to hide its API. A POST under a
cookie session needs ``X-CSRF-Token`` (403 otherwise). Unknown routes: gin's plain 404.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from sandbox.panels.xui.clients import ClientError, ClientNotFound

if TYPE_CHECKING:
    from sandbox.panels.xui.standin import XuiStandIn

CATCH_ALL = "xui-catch-all"
COOKIE = "3x-ui"
API_PREFIX = "/panel/api/"
_SAFE = ("GET", "HEAD", "OPTIONS", "TRACE")


def envelope(success: bool, msg: str = "", obj: Any = None, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps({"success": success, "msg": msg, "obj": obj}), status=status,
                        content_type="application/json")


def refused(detail: str) -> web.Response:
    return envelope(False, f"Something went wrong ({detail})")


@dataclass
class Session:
    expires: datetime
    csrf: str


async def _json(request: web.Request) -> Any:
    raw = await request.read() if request.body_exists else b""
    try:
        return orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        return None


class XuiApi:
    def __init__(self, standin: "XuiStandIn") -> None:
        self.s = standin
        self.sessions: dict[str, Session] = {}
        self.issued: list[str] = []            # every session cookie and CSRF token handed out

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/login", self.login)
        r.add_post("/logout", self.logout)
        r.add_get("/csrf-token", self.csrf_token)
        r.add_get("/panel/api/server/status", self.server_status)
        r.add_get("/panel/api/inbounds/list", self.list_inbounds)
        r.add_get("/panel/api/inbounds/get/{id}", self.get_inbound)
        r.add_post("/panel/api/clients/add", self.add_client)
        r.add_post("/panel/api/clients/update/{email}", self.update_client)
        r.add_post("/panel/api/clients/del/{email}", self.delete_client)
        r.add_get("/panel/api/clients/get/{email}", self.get_client)
        r.add_get("/panel/api/clients/traffic/{email}", self.client_traffic)
        r.add_get("/panel/api/clients/links/{email}", self.client_links)
        r.add_get("/sub/{subId}", self.subscription)
        r.add_route("*", "/{tail:.*}", self.not_found, name=CATCH_ALL)

    # ---- sessions --------------------------------------------------------------
    def session(self, request: web.Request) -> Session | None:
        sid = request.cookies.get(COOKIE, "")
        found = self.sessions.get(sid)
        if found is not None and found.expires <= self.s.clock.now():
            del self.sessions[sid]
            found = None
        return found

    def expire_sessions(self) -> int:
        dropped = len(self.sessions)
        self.sessions.clear()
        return dropped

    @web.middleware
    async def auth_middleware(self, request: web.Request, handler):
        if not request.path.startswith(API_PREFIX) or request.match_info.route.name == CATCH_ALL:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        if self.s.api_token and hmac.compare_digest(header.encode(), f"Bearer {self.s.api_token}".encode()):
            return await handler(request)                    # API token: no CSRF (not a browser)
        session = self.session(request)
        if session is None:
            ajax = request.headers.get("X-Requested-With") == "XMLHttpRequest"
            return web.Response(status=401 if ajax else 404)
        if request.method not in _SAFE:
            sent = request.headers.get("X-CSRF-Token", "")
            if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                return web.Response(status=403)
        return await handler(request)

    async def login(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            body = await _json(request)
        else:
            body = dict(await request.post())
        if not isinstance(body, dict):
            return envelope(False, "Invalid form data", status=400)
        user, password = str(body.get("username") or ""), str(body.get("password") or "")
        if not user or not password:
            return envelope(False, "Please enter username" if not user else "Please enter password", status=400)
        if not (hmac.compare_digest(user.encode(), self.s.username.encode())
                and hmac.compare_digest(password.encode(), self.s.password.encode())):
            return envelope(False, "Wrong username or password", status=400)
        sid = secrets.token_urlsafe(24)
        self.sessions[sid] = Session(self.s.clock.now() + timedelta(seconds=self.s.session_ttl),
                                     secrets.token_urlsafe(24))
        self.issued += [sid, self.sessions[sid].csrf]
        response = envelope(True, "Logged in successfully")
        response.set_cookie(COOKIE, sid, path="/", httponly=True, samesite="Lax", max_age=int(self.s.session_ttl))
        return response

    async def logout(self, request: web.Request) -> web.Response:
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        response = envelope(True)
        response.del_cookie(COOKIE, path="/")
        return response

    async def csrf_token(self, request: web.Request) -> web.Response:
        session = self.session(request)
        if session is None:
            return web.Response(status=404)
        return envelope(True, obj=session.csrf)

    # ---- server ------------------------------------------------------------------
    async def server_status(self, request: web.Request) -> web.Response:
        gb = 1024 ** 3
        return envelope(True, obj={
            "cpu": 4.5, "cpuCores": 2, "logicalPro": 2, "cpuSpeedMhz": 2400.0,
            "mem": {"current": gb // 2, "total": 2 * gb}, "swap": {"current": 0, "total": 0},
            "disk": {"current": 10 * gb, "total": 40 * gb},
            "xray": {"state": "running", "errorMsg": "", "version": "25.10.31"},
            "uptime": 86400, "loads": [0.1, 0.1, 0.1], "tcpCount": 12, "udpCount": 2,
            "netIO": {"up": 0, "down": 0}, "netTraffic": {"sent": 0, "recv": 0},
            "appStats": {"threads": 20, "mem": 64 * 1024 ** 2, "uptime": 86400},
            "panelVersion": self.s.version,
        })

    # ---- inbounds ---------------------------------------------------------------
    async def list_inbounds(self, request: web.Request) -> web.Response:
        clients, now = self.s.clients.all(), self.s.clients.now_ms()
        return envelope(True, obj=[i.to_api(clients, now) for i in self.s.clients.inbounds.values()])

    async def get_inbound(self, request: web.Request) -> web.Response:
        try:
            inbound = self.s.clients.inbound(int(request.match_info["id"]))
        except (ValueError, ClientNotFound):
            return envelope(False, "Obtain Failed (record not found)")
        return envelope(True, obj=inbound.to_api(self.s.clients.all(), self.s.clients.now_ms()))

    # ---- clients ----------------------------------------------------------------
    async def add_client(self, request: web.Request) -> web.Response:
        body = await _json(request)
        if not isinstance(body, dict):
            return refused("invalid character in JSON body")
        try:
            self.s.clients.create(body.get("client"), body.get("inboundIds"))
        except ClientError as exc:
            return refused(str(exc))
        self.s.creates_succeeded += 1
        return envelope(True, "Client(s) added")

    async def update_client(self, request: web.Request) -> web.Response:
        try:
            self.s.clients.update(request.match_info["email"], await _json(request))
        except ClientError as exc:
            return refused(str(exc))
        return envelope(True, "Client updated")

    async def delete_client(self, request: web.Request) -> web.Response:
        try:
            self.s.clients.delete(request.match_info["email"])
        except ClientError as exc:
            return refused(str(exc))
        self.s.deletes += 1
        return envelope(True, "Client deleted")

    async def get_client(self, request: web.Request) -> web.Response:
        client = self.s.clients.find(request.match_info["email"])
        if client is None:
            return envelope(False, "get (record not found)")
        return envelope(True, obj={"client": client.record(), "inboundIds": list(client.inbound_ids)})

    async def client_traffic(self, request: web.Request) -> web.Response:
        client = self.s.clients.find(request.match_info["email"])
        if client is None:
            return envelope(False, "Error getting traffic (record not found)")
        return envelope(True, obj=client.traffic(client.inbound_ids[0]))

    async def client_links(self, request: web.Request) -> web.Response:
        client = self.s.clients.find(request.match_info["email"])
        if client is None:
            return envelope(False, "Obtain Failed (record not found)")
        return envelope(True, obj=self.s.clients.links(client, self.s.share_host or request.url.host or "127.0.0.1"))

    # ---- public subscription ------------------------------------------------------
    async def subscription(self, request: web.Request) -> web.Response:
        """What a VPN client downloads: base64 of the links of the subId's enabled clients. A
        rotated subId (or a switched-off client) gives nothing."""
        found = [c for c in self.s.clients.by_sub_id(request.match_info["subId"]) if c.enable]
        if not found:
            return web.Response(status=404, text="Error!")
        host = self.s.share_host or request.url.host or "127.0.0.1"
        links = "\n".join(link for c in found for link in self.s.clients.links(c, host))
        return web.Response(text=base64.b64encode(links.encode()).decode(), content_type="text/plain")

    async def not_found(self, request: web.Request) -> web.Response:
        return web.Response(status=404, text="404 page not found")
