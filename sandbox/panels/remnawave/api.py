"""Remnawave v3.2.3 user API, as ``../shared/specs/remnawave-openapi.json`` has it.

    POST   /api/users                              create        -> 201 {"response": User}
    GET    /api/users?start&size                   list          -> {"response": {"users", "total"}}
    PATCH  /api/users                              update by id or username
    GET    /api/users/{userId}                     by numeric id
    GET    /api/users/by-username/{username}
    GET    /api/users/by-short-uuid/{shortUuid}
    DELETE /api/users/{userId}                     -> 204, no body
    POST   /api/users/{userId}/actions/revoke      {"revokeOnlyPasswords"?, "shortUuid"?}
    POST   /api/users/{userId}/actions/disable
    POST   /api/users/{userId}/actions/enable
    POST   /api/users/{userId}/actions/extend      {"days"}
    POST   /api/users/{userId}/actions/reset-traffic
    GET    /api/hwid/devices/{userId}              a user's HWID devices (sandbox.panels.remnawave.hwid)
    POST   /api/hwid/devices/delete                {"userId", "hwid"}: forget one
    POST   /api/hwid/devices/delete-all            {"userId"}: forget them all
    GET    /api/sub/{shortUuid}                    the subscription itself (public, no token); an
                                                   ``x-hwid`` header counts the device against the limit
    GET    /api/system/metadata                    {"response": {"version", "build", "git"}}

Every ``/api`` route except the subscription needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import base64
import hmac
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from sandbox.panels.remnawave import errors, validation
from sandbox.panels.remnawave.errors import RemnawaveError
from sandbox.panels.remnawave.hwid import DeviceLimitReached
from sandbox.panels.remnawave.users import User, UserConflict, UserNotFound
from sandbox.panels.remnawave.validation import ValidationFailed

if TYPE_CHECKING:
    from sandbox.panels.remnawave.standin import RemnawaveStandIn

CATCH_ALL = "remnawave-catch-all"
PUBLIC_PREFIX = "/api/sub/"


async def _body(request: web.Request) -> Any:
    raw = await request.read() if request.body_exists else b""
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except ValueError:
        raise ValidationFailed(
            [{"validation": "json", "code": "invalid_json", "message": "Invalid JSON body", "path": []}]
        ) from None


class RemnawaveApi:
    def __init__(self, standin: "RemnawaveStandIn") -> None:
        self.s = standin

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/api/users", self.create_user)
        r.add_get("/api/users", self.list_users)
        r.add_patch("/api/users", self.update_user)
        r.add_get("/api/users/by-username/{username}", self.get_by_username)
        r.add_get("/api/users/by-short-uuid/{shortUuid}", self.get_by_short_uuid)
        r.add_get("/api/users/{userId}", self.get_user)
        r.add_delete("/api/users/{userId}", self.delete_user)
        r.add_post("/api/users/{userId}/actions/revoke", self.revoke)
        r.add_post("/api/users/{userId}/actions/disable", self.disable)
        r.add_post("/api/users/{userId}/actions/enable", self.enable)
        r.add_post("/api/users/{userId}/actions/extend", self.extend)
        r.add_post("/api/users/{userId}/actions/reset-traffic", self.reset_traffic)
        r.add_get("/api/hwid/devices/{userId}", self.hwid_devices)
        r.add_post("/api/hwid/devices/delete", self.hwid_delete)
        r.add_post("/api/hwid/devices/delete-all", self.hwid_delete_all)
        r.add_get("/api/sub/{shortUuid}", self.subscription)
        r.add_get("/api/system/metadata", self.metadata)
        r.add_route("*", "/{tail:.*}", self.not_found, name=CATCH_ALL)

    # ---- middlewares -------------------------------------------------------
    @web.middleware
    async def auth_middleware(self, request: web.Request, handler):
        if request.match_info.route.name == CATCH_ALL or request.path.startswith(PUBLIC_PREFIX):
            return await handler(request)
        if request.path.startswith("/api/"):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), self.s.token.encode()):
                return errors.unauthorized()
        return await handler(request)

    @web.middleware
    async def error_middleware(self, request: web.Request, handler):
        try:
            return await handler(request)
        except RemnawaveError as exc:
            return exc.response(request, self.s.clock)
        except ValidationFailed as exc:
            return errors.json_error(400, exc.body())

    # ---- helpers -------------------------------------------------------------
    def _ok(self, user: User, status: int = 200) -> web.Response:
        return web.Response(
            body=orjson.dumps({"response": user.to_api(self.s.subscription_base)}),
            status=status,
            content_type="application/json",
        )

    def _user(self, request: web.Request) -> User:
        user_id = validation.user_id(request.match_info["userId"])
        try:
            return self.s.users.by_id(user_id)
        except UserNotFound:
            raise RemnawaveError(*errors.USER_NOT_FOUND) from None

    # ---- system ----------------------------------------------------------------
    async def metadata(self, request: web.Request) -> web.Response:
        commit = "0" * 40
        return web.json_response({"response": {
            "version": self.s.version,
            "build": {"time": "2025-01-01T00:00:00.000Z", "number": "0"},
            "git": {"backend": {"commitSha": commit, "branch": "main",
                                "commitUrl": f"https://github.com/remnawave/backend/commit/{commit}"},
                    "frontend": {"commitSha": commit,
                                 "commitUrl": f"https://github.com/remnawave/frontend/commit/{commit}"}},
        }})

    # ---- users ---------------------------------------------------------------
    async def create_user(self, request: web.Request) -> web.Response:
        body = validation.create_user_body(await _body(request))
        try:
            user = self.s.users.create(body)
        except UserConflict as exc:
            raise RemnawaveError(*(errors.USERNAME_TAKEN if exc.field == "username" else errors.SHORT_UUID_TAKEN)) from None
        self.s.creates_succeeded += 1
        return self._ok(user, status=201)

    async def list_users(self, request: web.Request) -> web.Response:
        try:
            start = int(request.query.get("start", 0))
            size = int(request.query.get("size", 25))
        except ValueError:
            raise ValidationFailed(
                [{"validation": "format", "code": "invalid_type", "message": "Expected number", "path": ["start"]}]
            ) from None
        if start < 0 or not 1 <= size <= 1000:
            raise ValidationFailed(
                [{"validation": "format", "code": "too_big", "message": "Out of range", "path": ["size"]}]
            )
        users = self.s.users.all()
        page = [u.to_api(self.s.subscription_base) for u in users[start : start + size]]
        return web.Response(
            body=orjson.dumps({"response": {"users": page, "total": len(users)}}),
            content_type="application/json",
        )

    async def update_user(self, request: web.Request) -> web.Response:
        body = validation.update_user_body(await _body(request))
        try:
            user = self.s.users.by_id(body["id"]) if "id" in body else self.s.users.by_username(body["username"])
        except UserNotFound:
            raise RemnawaveError(*errors.USER_NOT_FOUND) from None
        return self._ok(self.s.users.update(user, body))

    async def get_user(self, request: web.Request) -> web.Response:
        return self._ok(self._user(request))

    async def get_by_username(self, request: web.Request) -> web.Response:
        try:
            return self._ok(self.s.users.by_username(request.match_info["username"]))
        except UserNotFound:
            raise RemnawaveError(*errors.USER_NOT_FOUND_BY_PARAMS) from None

    async def get_by_short_uuid(self, request: web.Request) -> web.Response:
        try:
            return self._ok(self.s.users.by_short_uuid(request.match_info["shortUuid"]))
        except UserNotFound:
            raise RemnawaveError(*errors.USER_NOT_FOUND_BY_PARAMS) from None

    async def delete_user(self, request: web.Request) -> web.Response:
        user = self._user(request)
        self.s.users.delete(user)
        self.s.hwid.delete_all(user.id)
        self.s.deletes += 1
        return web.Response(status=204)

    async def revoke(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = validation.revoke_body(await _body(request))
        try:
            user = self.s.users.revoke(
                user, only_passwords=body.get("revokeOnlyPasswords", False), new_short=body.get("shortUuid")
            )
        except UserConflict:
            raise RemnawaveError(*errors.SHORT_UUID_TAKEN) from None
        return self._ok(user)

    async def disable(self, request: web.Request) -> web.Response:
        user = self._user(request)
        if user.status == "DISABLED":
            raise RemnawaveError(*errors.ALREADY_DISABLED)
        return self._ok(self.s.users.set_status(user, "DISABLED"))

    async def enable(self, request: web.Request) -> web.Response:
        user = self._user(request)
        if user.status == "ACTIVE":
            raise RemnawaveError(*errors.ALREADY_ENABLED)
        return self._ok(self.s.users.set_status(user, "ACTIVE"))

    async def extend(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = validation.extend_body(await _body(request))
        return self._ok(self.s.users.extend(user, body["days"]))

    async def reset_traffic(self, request: web.Request) -> web.Response:
        return self._ok(self.s.users.reset_traffic(self._user(request)))

    # ---- HWID devices ------------------------------------------------------------
    def _devices(self, user_id: int) -> web.Response:
        return web.Response(body=orjson.dumps(self.s.hwid.page(user_id)), content_type="application/json")

    async def hwid_devices(self, request: web.Request) -> web.Response:
        return self._devices(self._user(request).id)

    def _owner(self, user_id: int) -> User:
        try:
            return self.s.users.by_id(user_id)
        except UserNotFound:
            raise RemnawaveError(*errors.USER_NOT_FOUND) from None

    async def hwid_delete(self, request: web.Request) -> web.Response:
        body = validation.hwid_delete_body(await _body(request))
        user = self._owner(body["userId"])
        self.s.hwid.delete(user.id, body["hwid"])
        return self._devices(user.id)

    async def hwid_delete_all(self, request: web.Request) -> web.Response:
        body = validation.hwid_delete_body(await _body(request), all_devices=True)
        user = self._owner(body["userId"])
        self.s.hwid.delete_all(user.id)
        return self._devices(user.id)

    # ---- public subscription ---------------------------------------------------
    async def subscription(self, request: web.Request) -> web.Response:
        """What a VPN client downloads from ``subscriptionUrl``: base64 of one
        VLESS link. A revoked short UUID (or a disabled user) stops working."""
        try:
            user = self.s.users.by_short_uuid(request.match_info["shortUuid"])
        except UserNotFound:
            return web.Response(status=404, text="Not Found")
        if user.status != "ACTIVE":
            return web.Response(status=403, text=f"User is {user.status}")
        hwid = request.headers.get("x-hwid")
        if hwid:
            try:
                self.s.hwid.see(user.id, user.hwid_device_limit, hwid, self.s.clock.now(),
                                platform=request.headers.get("x-device-os"), os_version=request.headers.get("x-ver-os"),
                                model=request.headers.get("x-device-model"),
                                user_agent=request.headers.get("User-Agent"), ip=request.remote)
            except DeviceLimitReached:
                return web.Response(status=403, text="Device limit reached")
        elif (user.hwid_device_limit if user.hwid_device_limit is not None else self.s.hwid.fallback_limit):
            # A limited user's subscription is served only to apps that say which device they are.
            return web.Response(status=403, text="HWID required")
        link = f"vless://{user.vless_uuid}@127.0.0.1:443?security=reality&type=tcp#{user.username}"
        return web.Response(text=base64.b64encode(link.encode()).decode(), content_type="text/plain")

    async def not_found(self, request: web.Request) -> web.Response:
        return errors.route_not_found(request)
