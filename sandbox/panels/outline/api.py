"""Outline server management API, as ``contracts/outline/api.yml`` describes it.

Every route lives under the secret API prefix (``/<apiPrefix>/...``), as on a
real server; anything outside it gets restify's ``ResourceNotFound`` 404, so
the prefix works as the credential. Request bodies are JSON.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from sandbox.panels.outline import errors
from sandbox.panels.outline.errors import OutlineError
from sandbox.panels.outline.keys import METHODS, KeyConflict, KeyNotFound

if TYPE_CHECKING:
    from sandbox.panels.outline.standin import OutlineStandIn

# Upstream's hostname rule (IP addresses are accepted as well).
_HOSTNAME = re.compile(r"^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")
_IP = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+)$")

SERVER_VERSION = "1.12.0"


async def _params(request: web.Request) -> dict[str, Any]:
    """JSON body as a dict (restify merges it into req.params); empty if none."""
    if not request.body_exists:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except ValueError as exc:
        raise OutlineError(400, "InvalidContent", f"Invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise OutlineError(400, "InvalidContent", "Invalid JSON: expected an object")
    return body


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _data_limit(limit: Any) -> int:
    if not limit:
        raise OutlineError(400, "MissingParameter", "Missing `limit` parameter")
    bytes_ = limit.get("bytes") if isinstance(limit, dict) else None
    if not (_is_int(bytes_) and bytes_ >= 0):
        raise errors.invalid("`limit.bytes` must be an non-negative integer")
    return bytes_


def _port(value: Any) -> int:
    if not _is_int(value) or not 1 <= value <= 65535:
        raise errors.invalid(f"Invalid port: {value}. Must be an integer from 1 through 65535")
    return value


class OutlineApi:
    def __init__(self, standin: "OutlineStandIn") -> None:
        self.s = standin

    def add_routes(self, app: web.Application, prefix: str) -> None:
        r = app.router
        r.add_get(f"{prefix}/server", self.get_server)
        r.add_put(f"{prefix}/name", self.rename_server)
        r.add_put(f"{prefix}/server/hostname-for-access-keys", self.set_hostname)
        r.add_put(f"{prefix}/server/port-for-new-access-keys", self.set_port_for_new_keys)
        r.add_put(f"{prefix}/server/access-key-data-limit", self.set_default_limit)
        r.add_delete(f"{prefix}/server/access-key-data-limit", self.remove_default_limit)
        r.add_put(f"{prefix}/experimental/access-key-data-limit", self.set_default_limit)
        r.add_delete(f"{prefix}/experimental/access-key-data-limit", self.remove_default_limit)
        r.add_get(f"{prefix}/experimental/server/metrics", self.server_metrics)
        r.add_post(f"{prefix}/access-keys", self.create_key)
        r.add_get(f"{prefix}/access-keys", self.list_keys)
        r.add_put(f"{prefix}/access-keys/{{id}}", self.create_key_with_id)
        r.add_get(f"{prefix}/access-keys/{{id}}", self.get_key)
        r.add_delete(f"{prefix}/access-keys/{{id}}", self.delete_key)
        r.add_put(f"{prefix}/access-keys/{{id}}/name", self.rename_key)
        r.add_put(f"{prefix}/access-keys/{{id}}/data-limit", self.set_key_limit)
        r.add_delete(f"{prefix}/access-keys/{{id}}/data-limit", self.remove_key_limit)
        r.add_get(f"{prefix}/metrics/transfer", self.transfer_metrics)
        r.add_get(f"{prefix}/metrics/enabled", self.get_metrics_enabled)
        r.add_put(f"{prefix}/metrics/enabled", self.set_metrics_enabled)
        # Last: anything else, including a wrong prefix, is restify's 404.
        r.add_route("*", "/{tail:.*}", self.not_found)

    @web.middleware
    async def error_middleware(self, request: web.Request, handler):
        try:
            return await handler(request)
        except OutlineError as exc:
            return exc.response()

    @staticmethod
    def no_content() -> web.Response:
        return web.Response(status=204)

    # ---- server ----------------------------------------------------------
    async def get_server(self, request: web.Request) -> web.Response:
        st = self.s.settings
        data = {
            "name": st.name,
            "serverId": st.server_id,
            "metricsEnabled": st.metrics_enabled,
            "createdTimestampMs": st.created_ms,
            "version": self.s.version,
        }
        if st.default_data_limit is not None:
            data["accessKeyDataLimit"] = {"bytes": st.default_data_limit}
        data["portForNewAccessKeys"] = st.port_for_new_keys
        data["hostnameForAccessKeys"] = st.hostname
        return web.json_response(data)

    async def rename_server(self, request: web.Request) -> web.Response:
        name = (await _params(request)).get("name")
        if not name:
            raise errors.missing("name")
        if not isinstance(name, str) or len(name) > 100:
            raise errors.invalid("Requested server name should be a string <= 100 characters long.")
        self.s.settings.name = name
        return self.no_content()

    async def set_hostname(self, request: web.Request) -> web.Response:
        params = await _params(request)
        if "hostname" not in params:
            raise OutlineError(400, "MissingParameter", "hostname must be provided")
        hostname = params["hostname"]
        if not isinstance(hostname, str):
            raise errors.invalid(f"Expected hostname to be a string, instead got {hostname!r}")
        if not (_HOSTNAME.match(hostname) or _IP.match(hostname)):
            raise errors.invalid(f"Hostname {hostname} isn't a valid hostname or IP address")
        self.s.settings.hostname = hostname
        return self.no_content()

    async def set_port_for_new_keys(self, request: web.Request) -> web.Response:
        port = (await _params(request)).get("port")
        if not port:
            raise errors.missing("port")
        self.s.settings.port_for_new_keys = _port(port)
        return self.no_content()

    async def set_default_limit(self, request: web.Request) -> web.Response:
        self.s.settings.default_data_limit = _data_limit((await _params(request)).get("limit"))
        return self.no_content()

    async def remove_default_limit(self, request: web.Request) -> web.Response:
        self.s.settings.default_data_limit = None
        return self.no_content()

    async def server_metrics(self, request: web.Request) -> web.Response:
        now_s = int(self.s.clock.now().timestamp())
        keys = self.s.keys.all()
        total = sum(k.bytes_transferred for k in keys)
        return web.json_response(
            {
                "server": {
                    "tunnelTime": {"seconds": 0},
                    "dataTransferred": {"bytes": total},
                    "bandwidth": {
                        "current": {"data": {"bytes": 0}, "timestamp": now_s},
                        "peak": {"data": {"bytes": 0}, "timestamp": now_s},
                    },
                    "locations": [],
                },
                # accessKeyId is an integer in the spec: keys created with a
                # non-numeric id (PUT /access-keys/{id}) cannot be listed here.
                "accessKeys": [
                    {
                        "accessKeyId": int(k.id),
                        "tunnelTime": {"seconds": 0},
                        "dataTransferred": {"bytes": k.bytes_transferred},
                        "connection": {
                            "lastTrafficSeen": now_s if k.bytes_transferred else 0,
                            "peakDeviceCount": {"data": 1 if k.bytes_transferred else 0, "timestamp": now_s},
                        },
                    }
                    for k in keys
                    if k.id.isdigit()
                ],
            }
        )

    # ---- access keys -----------------------------------------------------
    async def _create(self, request: web.Request, key_id: str | None) -> web.Response:
        params = await _params(request)
        name = params.get("name")
        if name is not None and not isinstance(name, str):
            raise errors.invalid("Parameter `name` must be of type string")
        method = params.get("method")
        if method is not None and method not in METHODS:
            raise errors.invalid(f"Unsupported encryption method: {method}")
        password = params.get("password")
        if password is not None and not isinstance(password, str):
            raise errors.invalid("Parameter `password` must be of type string")
        port = _port(params["port"]) if "port" in params else self.s.settings.port_for_new_keys
        limit = _data_limit(params["limit"]) if "limit" in params else None
        try:
            key = self.s.keys.create(
                port=port, key_id=key_id, name=name, method=method, password=password, data_limit=limit
            )
        except KeyConflict:
            raise OutlineError(409, "Conflict", f'Access key "{key_id}" already exists') from None
        self.s.creates_succeeded += 1
        return web.json_response(key.to_api(self.s.settings.hostname), status=201)

    async def create_key(self, request: web.Request) -> web.Response:
        return await self._create(request, None)

    async def create_key_with_id(self, request: web.Request) -> web.Response:
        return await self._create(request, request.match_info["id"])

    async def list_keys(self, request: web.Request) -> web.Response:
        hostname = self.s.settings.hostname
        return web.json_response({"accessKeys": [k.to_api(hostname) for k in self.s.keys.all()]})

    def _key(self, request: web.Request):
        key_id = request.match_info["id"]
        try:
            return self.s.keys.get(key_id)
        except KeyNotFound:
            raise errors.key_not_found(key_id) from None

    async def get_key(self, request: web.Request) -> web.Response:
        return web.json_response(self._key(request).to_api(self.s.settings.hostname))

    async def delete_key(self, request: web.Request) -> web.Response:
        key = self._key(request)
        self.s.keys.delete(key.id)
        self.s.deletes += 1
        return self.no_content()

    async def rename_key(self, request: web.Request) -> web.Response:
        key = self._key(request)
        name = (await _params(request)).get("name")
        if name is None:
            raise errors.missing("name")
        if not isinstance(name, str):
            raise errors.invalid("Parameter `name` must be of type string")
        key.name = name
        return self.no_content()

    async def set_key_limit(self, request: web.Request) -> web.Response:
        key = self._key(request)
        key.data_limit = _data_limit((await _params(request)).get("limit"))
        return self.no_content()

    async def remove_key_limit(self, request: web.Request) -> web.Response:
        self._key(request).data_limit = None
        return self.no_content()

    # ---- metrics ---------------------------------------------------------
    async def transfer_metrics(self, request: web.Request) -> web.Response:
        # Like the real server, only keys that moved data appear.
        usage = {k.id: k.bytes_transferred for k in self.s.keys.all() if k.bytes_transferred}
        return web.json_response({"bytesTransferredByUserId": usage})

    async def get_metrics_enabled(self, request: web.Request) -> web.Response:
        return web.json_response({"metricsEnabled": self.s.settings.metrics_enabled})

    async def set_metrics_enabled(self, request: web.Request) -> web.Response:
        enabled = (await _params(request)).get("metricsEnabled")
        if not isinstance(enabled, bool):
            raise errors.invalid("Parameter `metricsEnabled` must be a boolean")
        self.s.settings.metrics_enabled = enabled
        return self.no_content()

    async def not_found(self, request: web.Request) -> web.Response:
        return errors.restify_error(404, "ResourceNotFound", f"{request.path} does not exist")
