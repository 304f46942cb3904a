"""``OutlineStandIn``: a local Outline server management API on loopback.

URL layout (``<base>`` is ``.url``):

    <base>/<apiPrefix>/...       the management API; ``.api_url`` is ``<base>/<apiPrefix>``,
                                 the value a real server prints as "apiUrl"
    <base>/_control/...          control API: stats, reset, clock, faults (sandbox.panels.base)
                                 plus usage simulation:
    POST <base>/_control/usage   {"id": "<key id>", "bytes": <total transferred>}
    GET  <base>/_control/keys    [{"id", "bytes", "limit", "over_limit"}] (effective limits)

Plain http by default; ``tls=True`` serves https with a self-signed
certificate made at start, as a real server does, and ``.cert_sha256`` is
the certSha256 its installer prints. The gateway config points at
``.api_url`` (with ``cert_sha256`` when it is https).
"""

from __future__ import annotations

import secrets
from typing import Optional

from aiohttp import web

from sandbox.panels.base import PanelStandIn, template_key
from sandbox.panels.outline import errors
from sandbox.panels.outline.api import SERVER_VERSION, OutlineApi
from sandbox.panels.outline.keys import KeyNotFound, KeyStore, new_server_settings


class OutlineStandIn(PanelStandIn):
    create_routes = ("POST /access-keys", "PUT /access-keys/{id}")
    default_version = SERVER_VERSION

    def __init__(
        self,
        *,
        api_prefix: Optional[str] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        version: Optional[str] = None,
        hostname_for_access_keys: str = "127.0.0.1",
        port_for_new_access_keys: Optional[int] = None,
        name: str = "Outline Server",
    ) -> None:
        super().__init__(host=host, port=port, tls=tls, version=version)
        # A real server's prefix is 16 random bytes, base64url: 22 characters.
        self.api_prefix = (api_prefix or secrets.token_urlsafe(16)).strip("/")
        self._initial = (name, hostname_for_access_keys, port_for_new_access_keys or 20000 + secrets.randbelow(40000))
        self.keys = KeyStore()
        self.settings = self._new_settings()
        self._api = OutlineApi(self)

    def _new_settings(self):
        name, hostname, port = self._initial
        return new_server_settings(name, hostname, port, int(self.clock.now().timestamp() * 1000))

    @property
    def api_url(self) -> str:
        return f"{self.url}/{self.api_prefix}"

    def access(self) -> dict:
        """What the installer prints at the end (and writes to access.txt): paste both into the
        gateway's server entry, apiUrl as api_url and certSha256 as cert_sha256."""
        printed = {"apiUrl": self.api_url}
        if self.tls:
            printed["certSha256"] = self.cert_sha256
        return printed

    # ---- PanelStandIn ----------------------------------------------------
    def add_api_routes(self, app: web.Application) -> None:
        self._api.add_routes(app, f"/{self.api_prefix}")

    def api_middlewares(self) -> list:
        return [self._api.error_middleware]

    def route_key(self, request: web.Request) -> Optional[str]:
        return template_key(request, strip_prefix=f"/{self.api_prefix}")

    def error_body(self, request: web.Request, status: int) -> web.Response:
        return errors.fault_error(request, status)

    def account_count(self) -> int:
        return len(self.keys)

    def reset_accounts(self) -> None:
        self.keys.reset()
        self.settings = self._new_settings()

    def add_panel_control_routes(self, app: web.Application) -> None:
        async def set_usage(request: web.Request) -> web.Response:
            try:
                body = await request.json()
                self.set_usage(str(body["id"]), int(body["bytes"]))
            except KeyNotFound:
                return web.json_response({"error": "no such access key"}, status=404)
            except (ValueError, TypeError, KeyError) as exc:
                return web.json_response({"error": f"bad request: {exc}"}, status=400)
            return web.json_response({"keys": self.key_usage()})

        async def keys(request: web.Request) -> web.Response:
            return web.json_response({"keys": self.key_usage()})

        app.router.add_post("/_control/usage", set_usage)
        app.router.add_get("/_control/keys", keys)

    # ---- control, mirrored in Python ------------------------------------
    def set_usage(self, key_id: str, bytes_transferred: int) -> None:
        if bytes_transferred < 0:
            raise ValueError("bytes must not be negative")
        self.keys.get(key_id).bytes_transferred = bytes_transferred

    def key_usage(self) -> list[dict]:
        rows = []
        for key in self.keys.all():
            limit = key.data_limit if key.data_limit is not None else self.settings.default_data_limit
            rows.append(
                {
                    "id": key.id,
                    "bytes": key.bytes_transferred,
                    "limit": limit,
                    "over_limit": limit is not None and key.bytes_transferred >= limit,
                }
            )
        return rows
