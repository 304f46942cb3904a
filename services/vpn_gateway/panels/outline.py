"""Outline server management API client (contracts/outline/api.yml).

Accounts are access keys created with our external id as the key id (`PUT /access-keys/{id}`),
so the id itself is the idempotency key: a retried create finds the key (GET) or is refused with
409, never makes a second one. Outline has no expiry: the gateway enforces it by deleting the
key (capabilities.enforces_expiry is false), and a key cannot be switched off, only deleted.

Versions: from 1.7.3 (the first server with `GET` and `PUT /access-keys/{id}`) through 1.x; the
version is in `GET /server`, which is also the health probe. A real server's certificate is
self-signed: its `certSha256` goes in the config as `cert_sha256`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from services.vpn_gateway.panels.base import (
    AccessSpec, AccountExists, Capabilities, NotSupported, PanelAccount, PanelBackend, PanelHealth, PanelUnavailable,
)
from services.vpn_gateway.panels.http import PanelHttp, checked_health
from services.vpn_gateway.panels.versions import Supported, VersionGate

# The API spec (contracts/outline/api.yml) carries no server version; what we checked is its text.
SUPPORTED = Supported(lowest="1.7.3", below="2.0.0", tested="the server's api.yml of 2025-02")


class OutlineBackend(PanelBackend):
    kind = "outline"
    capabilities = Capabilities(enforces_expiry=False, can_disable=False)

    def __init__(self, http: PanelHttp) -> None:
        self.http = http
        http.gate = VersionGate(http.server, self.kind, SUPPORTED, self._version)

    async def _version(self) -> str | None:
        reply = await self.http.request("GET", "/server", route="/server", expect=(200,), probe=True)
        if not isinstance(reply.body, dict) or "serverId" not in reply.body:
            raise PanelUnavailable(f"{self.http.server}: unexpected /server answer")
        version = reply.body.get("version")
        return version if isinstance(version, str) else None

    @staticmethod
    def _key_path(key_id: str) -> str:
        return f"/access-keys/{quote(key_id, safe='')}"

    async def find(self, external_id: str) -> PanelAccount | None:
        reply = await self.http.request("GET", self._key_path(external_id), route="/access-keys/{id}",
                                        expect=(200,), tolerate=(404,))
        if reply.status == 404:
            return None
        return self._account(reply.body, external_id)

    async def create(self, external_id: str, spec: AccessSpec) -> PanelAccount:
        return await self._create(external_id, spec.traffic_limit_bytes)

    async def _create(self, external_id: str, traffic_limit_bytes: int) -> PanelAccount:
        body: dict[str, Any] = {"name": external_id}
        if traffic_limit_bytes > 0:
            body["limit"] = {"bytes": traffic_limit_bytes}
        reply = await self.http.request("PUT", self._key_path(external_id), route="/access-keys/{id}",
                                        json=body, expect=(201, 200), tolerate=(409,))
        if reply.status == 409:
            raise AccountExists(f"{self.http.server}: access key {external_id} exists")
        return self._account(reply.body, external_id)

    async def update(self, account: PanelAccount, *, expires_at: datetime | None = None,
                     traffic_limit_bytes: int | None = None, enabled: bool | None = None,
                     device_limit: int | None = None) -> PanelAccount:
        # device_limit: Outline keys have none (one key, any number of devices).
        # expires_at: nothing to send, Outline keys do not expire (the gateway deletes them).
        if enabled is False:
            raise NotSupported("outline keys cannot be disabled, only deleted")
        limit = account.traffic_limit_bytes
        if traffic_limit_bytes is not None and traffic_limit_bytes != account.traffic_limit_bytes:
            path = self._key_path(account.panel_id) + "/data-limit"
            if traffic_limit_bytes > 0:
                await self.http.request("PUT", path, route="/access-keys/{id}/data-limit",
                                        json={"limit": {"bytes": traffic_limit_bytes}}, expect=(204, 200))
            else:
                await self.http.request("DELETE", path, route="/access-keys/{id}/data-limit",
                                        expect=(204, 200), tolerate=(404,))
            limit = traffic_limit_bytes
        return PanelAccount(panel_id=account.panel_id, external_id=account.external_id,
                            access_key=account.access_key, expires_at=None, traffic_limit_bytes=limit,
                            enabled=True, used_bytes=account.used_bytes)

    async def revoke(self, account: PanelAccount) -> None:
        await self.http.request("DELETE", self._key_path(account.panel_id), route="/access-keys/{id}",
                                expect=(204, 200), tolerate=(404,))

    async def reissue(self, account: PanelAccount) -> PanelAccount:
        # No rotate call in the API: delete and create again under the same id, which gives a new
        # password. A crash in between leaves no key; the retry's find() sees none and creates it.
        await self.revoke(account)
        try:
            return await self._create(account.external_id, account.traffic_limit_bytes)
        except AccountExists:
            found = await self.find(account.external_id)
            if found is None:
                raise PanelUnavailable(f"{self.http.server}: access key vanished during reissue") from None
            return found

    async def usage(self, account: PanelAccount) -> int | None:
        reply = await self.http.request("GET", "/metrics/transfer", route="/metrics/transfer", expect=(200,))
        by_key = (reply.body or {}).get("bytesTransferredByUserId") or {}
        # Keys that moved no data are left out of the map.
        return int(by_key.get(account.panel_id, 0))

    async def health(self) -> PanelHealth:
        async def answered() -> PanelHealth:
            return PanelHealth(ok=True)        # the version check's GET /server was the probe
        return await checked_health(self.http, answered)

    async def close(self) -> None:
        await self.http.close()

    def _account(self, body: Any, external_id: str) -> PanelAccount:
        if not isinstance(body, dict) or "id" not in body or not body.get("accessUrl"):
            raise PanelUnavailable(f"{self.http.server}: access key answer without id or accessUrl")
        limit = body.get("dataLimit") or {}
        return PanelAccount(panel_id=str(body["id"]), external_id=external_id,
                            access_key=str(body["accessUrl"]), expires_at=None,
                            traffic_limit_bytes=int(limit.get("bytes") or 0), enabled=True)
