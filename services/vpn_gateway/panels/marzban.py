"""Marzban panel user API client (0.8.4; request shapes in contracts/marzban/v0.8.4/, checked
against the full spec in ../shared/specs/marzban-openapi.json by a test).

Auth: admins log in with OAuth2's password flow (`POST /api/admin/token`, a form) and get a
bearer token that expires (JWT, a day by default); PanelHttp's PanelAuth logs in on first use
and once more when the panel answers 401.

Accounts are panel users. Marzban usernames are 3 to 32 of a-z, 0-9 and "_" (the API's own
description of `POST /api/user`), so the username is our external id with "_" for "-"
(`atcs-1001` -> `atcs_1001`): derived, never stored or random, so a retried create is refused
with 409 and the user is found by that username instead. The username is also the panel's id.

The key is the user's `subscription_url`, not one of its `links`: the subscription is what
Marzban's users import (one URL for every protocol and inbound, refreshed by the client when the
admin changes hosts or inbounds), where a link is one proxy of one inbound. Marzban prints it
relative when XRAY_SUBSCRIPTION_URL_PREFIX is unset, so it is made absolute against the panel's
URL. Reissue is `revoke_sub`: new proxy credentials and every earlier subscription token refused.
Marzban signs a fresh token into the URL on every read (it carries the time), so `keep_key` asks
the panel (`/sub/{token}/info`) whether the URL we hold still works before calling it rotated.

Versions: 0.8.x (`GET /api/system` says which). Before 1.0 a minor may change the API, so the
next minor is refused until it is checked; updates are partial (PUT sends only what changes).
"""
from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from services.vpn_gateway.panels.base import (
    AccessSpec, AccountExists, Capabilities, PanelAccount, PanelBackend, PanelHealth, PanelRejected,
    PanelUnavailable,
)
from services.vpn_gateway.panels.http import PanelAuth, PanelHttp, checked_health, read_page
from services.vpn_gateway.panels.versions import Supported, VersionGate

PANEL_VERSION = "0.8.4"
SUPPORTED = Supported(lowest="0.8.0", below="0.9.0", tested=PANEL_VERSION)
USERNAME = re.compile(r"^[a-z0-9_]{3,32}$")


def username_for(external_id: str) -> str:
    """Our external id as a Marzban username: `atcs-1001` -> `atcs_1001`."""
    username = external_id.replace("-", "_")
    if not USERNAME.fullmatch(username):
        raise PanelRejected(f"external id {external_id!r} makes no Marzban username (3-32 of a-z, 0-9, _)")
    return username


class MarzbanBackend(PanelBackend):
    kind = "marzban"
    capabilities = Capabilities(enforces_expiry=True, can_disable=True, lasting_traffic_limit=True)

    def __init__(self, http: PanelHttp, *, admin_username: str, admin_password: str,
                 proxies: list[str] | None = None, base_url: str = "") -> None:
        self.http = http
        self.proxies = list(proxies or ["vless"])
        self._admin = {"grant_type": "password", "username": admin_username, "password": admin_password}
        self._base = base_url.rstrip("/") + "/"
        http.auth = PanelAuth(self._login)
        http.gate = VersionGate(http.server, self.kind, SUPPORTED, self._version)

    async def _version(self) -> str | None:
        reply = await self.http.request("GET", "/api/system", route="/api/system", expect=(200,), probe=True)
        version = reply.body.get("version") if isinstance(reply.body, dict) else None
        return version if isinstance(version, str) else None

    async def _login(self, probe: bool) -> str:
        reply = await self.http.request("POST", "/api/admin/token", route="/api/admin/token", form=self._admin,
                                        expect=(200,), tolerate=(401,), probe=probe, authenticate=False)
        if reply.status == 401:
            raise PanelRejected(f"{self.http.server}: POST /api/admin/token: HTTP 401 (admin login refused)")
        token = reply.body.get("access_token") if isinstance(reply.body, dict) else None
        if not isinstance(token, str) or not token:
            raise PanelUnavailable(f"{self.http.server}: token answer without access_token")
        return token

    @staticmethod
    def _path(username: str, action: str = "") -> str:
        return f"/api/user/{quote(username, safe='')}{action}"

    async def find(self, external_id: str) -> PanelAccount | None:
        reply = await self.http.request("GET", self._path(username_for(external_id)), route="/api/user/{username}",
                                        expect=(200,), tolerate=(404,))
        if reply.status == 404:
            return None
        return self._account(reply.body, external_id)

    async def create(self, external_id: str, spec: AccessSpec) -> PanelAccount:
        body: dict[str, Any] = {
            "username": username_for(external_id),
            "status": "active",
            "expire": unix_seconds(spec.expires_at),
            "data_limit": spec.traffic_limit_bytes,
            "data_limit_reset_strategy": "no_reset",
            "proxies": {protocol: {} for protocol in self.proxies},   # {}: the panel makes the credentials
        }
        reply = await self.http.request("POST", "/api/user", route="/api/user", json=body,
                                        expect=(200,), tolerate=(409,))
        if reply.status == 409:
            raise AccountExists(f"{self.http.server}: user {body['username']} exists")
        return self._account(reply.body, external_id)

    async def update(self, account: PanelAccount, *, expires_at: datetime | None = None,
                     traffic_limit_bytes: int | None = None, enabled: bool | None = None,
                     device_limit: int | None = None) -> PanelAccount:
        # device_limit: Marzban 0.8 has none (no device or IP limit in its user API).
        # PUT changes only the fields sent (null or absent = no change); proxies and inbounds
        # are left out, so they stay as they are.
        body: dict[str, Any] = {}
        if expires_at is not None:
            body["expire"] = unix_seconds(expires_at)
        if traffic_limit_bytes is not None:
            body["data_limit"] = traffic_limit_bytes
        if enabled is not None:
            body["status"] = "active" if enabled else "disabled"
        if not body:
            return account
        reply = await self.http.request("PUT", self._path(account.panel_id), route="/api/user/{username}",
                                        json=body, expect=(200,))
        return self._account(reply.body, account.external_id)

    async def keep_key(self, account: PanelAccount, known_key: str | None) -> PanelAccount:
        if not known_key or known_key == account.access_key or subscription_owner(known_key) != account.panel_id:
            return account
        # The panel serves its subscriptions itself (the URL's host may be a proxy in front).
        path = urlsplit(known_key).path.rstrip("/")
        reply = await self.http.request("GET", f"{path}/info", route="/sub/{token}/info", expect=(200,),
                                        tolerate=(400, 404))
        owner = reply.body.get("username") if isinstance(reply.body, dict) else None
        if reply.status != 200 or owner != account.panel_id:
            return account                     # revoked (or not ours): the panel's fresh URL it is
        return PanelAccount(panel_id=account.panel_id, external_id=account.external_id, access_key=known_key,
                            expires_at=account.expires_at, traffic_limit_bytes=account.traffic_limit_bytes,
                            enabled=account.enabled, used_bytes=account.used_bytes)

    async def revoke(self, account: PanelAccount) -> None:
        await self.http.request("DELETE", self._path(account.panel_id), route="/api/user/{username}",
                                expect=(200,), tolerate=(404,))

    async def reissue(self, account: PanelAccount) -> PanelAccount:
        reply = await self.http.request("POST", self._path(account.panel_id, "/revoke_sub"),
                                        route="/api/user/{username}/revoke_sub", expect=(200,))
        return self._account(reply.body, account.external_id)

    async def usage(self, account: PanelAccount) -> int | None:
        # used_traffic of the user is what data_limit is held against; /usage splits a date
        # range by node, which is not the same figure.
        reply = await self.http.request("GET", self._path(account.panel_id), route="/api/user/{username}",
                                        expect=(200,))
        return self._account(reply.body, account.external_id).used_bytes

    async def health(self) -> PanelHealth:
        # One user of the list proves the panel, its database and our login, and says the total.
        return await checked_health(self.http, lambda: read_page(
            self.http, "/api/users", params={"offset": "0", "limit": "1"}, page=lambda body: body))

    async def close(self) -> None:
        await self.http.close()

    def _account(self, body: Any, external_id: str) -> PanelAccount:
        if not isinstance(body, dict) or not body.get("username") or not body.get("subscription_url"):
            raise PanelUnavailable(f"{self.http.server}: user answer without username or subscription_url")
        expire, limit, used = body.get("expire"), body.get("data_limit"), body.get("used_traffic")
        return PanelAccount(
            panel_id=str(body["username"]),
            external_id=external_id,
            access_key=urljoin(self._base, str(body["subscription_url"])),
            expires_at=datetime.fromtimestamp(expire, timezone.utc) if isinstance(expire, int) and expire > 0 else None,
            traffic_limit_bytes=int(limit) if isinstance(limit, int) else 0,
            enabled=body.get("status") != "disabled",
            used_bytes=int(used) if isinstance(used, int) else None,
        )


def unix_seconds(moment: datetime) -> int:
    """Marzban's `expire`: whole UTC seconds, rounded up (never less than was paid for)."""
    return math.ceil(moment.timestamp())


def subscription_owner(url: str) -> str | None:
    """The username a Marzban subscription URL is for: its token is urlsafe base64 of
    `<username>,<issued at>` followed by a 10-character signature."""
    token = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    if len(token) <= 10:
        return None
    data = token[:-10]
    try:
        decoded = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    username, _, issued = decoded.partition(",")
    return username if issued and USERNAME.fullmatch(username) else None
