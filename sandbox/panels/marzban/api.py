"""Marzban 0.8.4 admin and user API, as ``../shared/specs/marzban-openapi.json`` has it.

    POST   /api/admin/token                  form username, password -> {"access_token", "token_type"}
    POST   /api/user                         UserCreate -> 200 UserResponse; 409 taken
    GET    /api/user/{username}              UserResponse; 404
    PUT    /api/user/{username}              UserModify (null or absent = no change)
    DELETE /api/user/{username}              -> 200 {"detail": "User successfully deleted"}
    POST   /api/user/{username}/revoke_sub   new credentials, older subscription URLs refused
    POST   /api/user/{username}/reset        used traffic back to 0
    GET    /api/user/{username}/usage        {"username", "usages": [{"node_id", "node_name", "used_traffic"}]}
    GET    /api/users?offset&limit           {"users", "total"}
    GET    /api/system                       SystemStats: {"version", "total_user", "users_active", ...}
    GET    /sub/{token}/                     the subscription (public): base64 of the links
    GET    /sub/{token}/info                 the subscription's user (public)

Every ``/api`` route but the token needs ``Authorization: Bearer <access_token>``;
without one the panel answers 401 "Not authenticated", with an unknown or
expired one 401 "Could not validate credentials". Errors are FastAPI's
``{"detail": ...}``; bad bodies 422 with a list of ``{"loc", "msg", "type"}``.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import TYPE_CHECKING, Any, Callable, Optional

import orjson
from aiohttp import web

from sandbox.panels.marzban import errors
from sandbox.panels.marzban.errors import MarzbanError, issue
from sandbox.panels.marzban.users import PROTOCOLS, User, UserConflict, UserNotFound

if TYPE_CHECKING:
    from sandbox.panels.marzban.standin import MarzbanStandIn

CATCH_ALL = "marzban-catch-all"
PUBLIC = ("/sub/", "/api/admin/token")
USERNAME = re.compile(r"^[a-z0-9_]{3,32}$")      # the API's description: 3-32 of a-z, 0-9, _
STATUSES_CREATE = ("active", "on_hold")
STATUSES_MODIFY = ("active", "disabled", "on_hold")
STRATEGIES = ("no_reset", "day", "week", "month", "year")


async def _json(request: web.Request) -> Any:
    raw = await request.read() if request.body_exists else b""
    try:
        return orjson.loads(raw)
    except ValueError:
        raise errors.invalid([issue(["body"], "JSON decode error", "json_invalid")]) from None


def _int(minimum: Optional[int] = None) -> Callable[[Any], Optional[str]]:
    def check(value: Any) -> Optional[str]:
        if isinstance(value, bool) or not isinstance(value, int):
            return "Input should be a valid integer"
        if minimum is not None and value < minimum:
            return f"Input should be greater than or equal to {minimum}"
        return None
    return check


def _one_of(options: tuple[str, ...]) -> Callable[[Any], Optional[str]]:
    def check(value: Any) -> Optional[str]:
        return None if value in options else "Input should be " + ", ".join(repr(o) for o in options)
    return check


def _proxies(value: Any) -> Optional[str]:
    if not isinstance(value, dict) or not all(k in PROTOCOLS and isinstance(v, dict) for k, v in value.items()):
        return "Input should be an object of protocol settings (" + ", ".join(PROTOCOLS) + ")"
    return None


def _validated(body: Any, checks: dict[str, Callable[[Any], Optional[str]]], *, required: tuple[str, ...] = ()) -> dict:
    """Pydantic-like: unknown fields ignored, null means 'not given' for the optional ones."""
    if not isinstance(body, dict):
        raise errors.invalid([issue(["body"], "Input should be a valid dictionary", "dict_type")])
    problems = [issue(["body", name], "Field required", "missing") for name in required if name not in body]
    for name, check in checks.items():
        value = body.get(name)
        if value is None:
            continue
        message = check(value)
        if message:
            problems.append(issue(["body", name], message))
    if problems:
        raise errors.invalid(problems)
    return {name: body.get(name) for name in checks}


COMMON = {
    "expire": _int(0),
    "data_limit": _int(0),
    "data_limit_reset_strategy": _one_of(STRATEGIES),
    "proxies": _proxies,
    "inbounds": lambda v: None if isinstance(v, dict) else "Input should be a valid dictionary",
    "note": lambda v: None if isinstance(v, str) else "Input should be a valid string",
}


class MarzbanApi:
    def __init__(self, standin: "MarzbanStandIn") -> None:
        self.s = standin

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/api/admin/token", self.token)
        r.add_post("/api/user", self.create_user)
        r.add_get("/api/user/{username}", self.get_user)
        r.add_put("/api/user/{username}", self.modify_user)
        r.add_delete("/api/user/{username}", self.delete_user)
        r.add_post("/api/user/{username}/revoke_sub", self.revoke_sub)
        r.add_post("/api/user/{username}/reset", self.reset_usage)
        r.add_get("/api/user/{username}/usage", self.usage)
        r.add_get("/api/users", self.list_users)
        r.add_get("/api/system", self.system)
        r.add_get("/sub/{token}", self.subscription)      # FastAPI redirects it to the slash form
        r.add_get("/sub/{token}/", self.subscription)
        r.add_get("/sub/{token}/info", self.subscription_info)
        r.add_route("*", "/{tail:.*}", self.not_found, name=CATCH_ALL)

    # ---- middlewares -------------------------------------------------------
    @web.middleware
    async def auth_middleware(self, request: web.Request, handler):
        if (request.match_info.route.name == CATCH_ALL or not request.path.startswith("/api/")
                or request.path.startswith(PUBLIC)):
            return await handler(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return MarzbanError(*errors.NOT_AUTHENTICATED).response()
        if not self.s.token_valid(token):
            return MarzbanError(*errors.BAD_TOKEN).response()
        return await handler(request)

    @web.middleware
    async def error_middleware(self, request: web.Request, handler):
        try:
            return await handler(request)
        except MarzbanError as exc:
            return exc.response()

    # ---- helpers -------------------------------------------------------------
    def _ok(self, payload: Any) -> web.Response:
        return web.Response(body=orjson.dumps(payload), content_type="application/json")

    def _user_json(self, user: User) -> dict:
        return user.to_api(self.s.subscription_url(user))

    def _user(self, request: web.Request) -> User:
        try:
            return self.s.users.get(request.match_info["username"])
        except UserNotFound:
            raise MarzbanError(*errors.USER_NOT_FOUND) from None

    # ---- admin ---------------------------------------------------------------
    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        missing = [issue(["body", n], "Field required", "missing") for n in ("username", "password") if n not in form]
        if missing:
            raise errors.invalid(missing)
        grant = form.get("grant_type")
        if grant not in (None, "", "password"):
            raise errors.invalid([issue(["body", "grant_type"], "String should match pattern 'password'",
                                        "string_pattern_mismatch")])
        if not self.s.admin_matches(str(form["username"]), str(form["password"])):
            raise MarzbanError(*errors.BAD_LOGIN)
        return self._ok({"access_token": self.s.issue_token(), "token_type": "bearer"})

    # ---- users ---------------------------------------------------------------
    async def create_user(self, request: web.Request) -> web.Response:
        body = _validated(await _json(request), {"username": lambda v: None if isinstance(v, str) and USERNAME.match(v)
                                                 else "Username only can be 3 to 32 characters and contain a-z, 0-9, and underscores in between.",
                                                 "status": _one_of(STATUSES_CREATE), **COMMON},
                          required=("username",))
        if not body["proxies"]:
            raise errors.invalid([issue(["body", "proxies"], "Value error, Each user needs at least one proxy")])
        for protocol in body["proxies"]:
            if protocol not in self.s.protocols:
                raise MarzbanError(400, f"Protocol {protocol} is disabled on your server")
        try:
            user = self.s.users.create(body)
        except UserConflict:
            raise MarzbanError(*errors.USER_EXISTS) from None
        self.s.creates_succeeded += 1
        return self._ok(self._user_json(user))

    async def get_user(self, request: web.Request) -> web.Response:
        return self._ok(self._user_json(self._user(request)))

    async def modify_user(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = _validated(await _json(request), {"status": _one_of(STATUSES_MODIFY), **COMMON})
        for protocol in body["proxies"] or {}:
            if protocol not in self.s.protocols:
                raise MarzbanError(400, f"Protocol {protocol} is disabled on your server")
        return self._ok(self._user_json(self.s.users.modify(user, body)))

    async def delete_user(self, request: web.Request) -> web.Response:
        self.s.users.delete(self._user(request))
        self.s.deletes += 1
        return self._ok({"detail": "User successfully deleted"})

    async def revoke_sub(self, request: web.Request) -> web.Response:
        return self._ok(self._user_json(self.s.users.revoke_sub(self._user(request))))

    async def reset_usage(self, request: web.Request) -> web.Response:
        return self._ok(self._user_json(self.s.users.reset_usage(self._user(request))))

    async def usage(self, request: web.Request) -> web.Response:
        user = self._user(request)
        usages = [{"node_id": None if node == "Master" else index, "node_name": node, "used_traffic": used}
                  for index, (node, used) in enumerate(sorted(user.usage_by_node.items()), start=1)]
        return self._ok({"username": user.username, "usages": usages})

    async def list_users(self, request: web.Request) -> web.Response:
        try:
            offset = int(request.query.get("offset", 0))
            limit = int(request.query["limit"]) if "limit" in request.query else None
        except ValueError:
            raise errors.invalid([issue(["query", "limit"], "Input should be a valid integer", "int_parsing")]) from None
        users = self.s.users.all()
        page = users[offset: None if limit is None else offset + limit]
        return self._ok({"users": [self._user_json(u) for u in page], "total": len(users)})

    async def system(self, request: web.Request) -> web.Response:
        users = self.s.users.all()
        by_status = {status: sum(1 for u in users if u.status == status)
                     for status in ("active", "on_hold", "disabled", "expired", "limited")}
        return self._ok({
            "version": self.s.version, "mem_total": 2 * 1024 ** 3, "mem_used": 512 * 1024 ** 2, "cpu_cores": 2,
            "cpu_usage": 3.5, "total_user": len(users), "online_users": 0,
            "users_active": by_status["active"], "users_on_hold": by_status["on_hold"],
            "users_disabled": by_status["disabled"], "users_expired": by_status["expired"],
            "users_limited": by_status["limited"],
            "incoming_bandwidth": sum(u.lifetime_used_traffic for u in users), "outgoing_bandwidth": 0,
            "incoming_bandwidth_speed": 0, "outgoing_bandwidth_speed": 0,
        })

    # ---- subscriptions (public) ----------------------------------------------
    def _subscribed(self, request: web.Request) -> User:
        try:
            return self.s.users.by_token(request.match_info["token"])
        except UserNotFound:
            raise MarzbanError(*errors.USER_NOT_FOUND) from None
        except (ValueError, UnicodeDecodeError):
            raise MarzbanError(*errors.BAD_SUB_TOKEN) from None

    async def subscription(self, request: web.Request) -> web.Response:
        user = self._subscribed(request)
        links = "\n".join(user.links()) if user.status == "active" else ""
        return web.Response(text=base64.b64encode(links.encode()).decode(), content_type="text/plain")

    async def subscription_info(self, request: web.Request) -> web.Response:
        user = self._subscribed(request)
        info = {k: v for k, v in self._user_json(user).items()
                if k not in ("auto_delete_in_days", "excluded_inbounds", "admin", "inbounds", "note")}
        return self._ok(info)

    async def not_found(self, request: web.Request) -> web.Response:
        return MarzbanError(*errors.ROUTE_NOT_FOUND).response()


def new_access_token() -> str:
    return secrets.token_urlsafe(32)
