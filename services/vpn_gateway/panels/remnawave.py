"""Remnawave panel user API client (v3.2.3; request shapes in contracts/remnawave/v3.2.3/,
checked against the full spec in ../shared/specs/remnawave-openapi.json by a test).

Accounts are panel users whose username is our external id; the panel keeps usernames unique,
so a retried create is refused (A019) and the user is found by username instead. The key we
hand out is the user's subscriptionUrl; reissue revokes the subscription, which gives a new
short UUID (so a new URL) and new protocol passwords. 3.x addresses users by numeric id.

Versions: 3.0 moved users from a uuid to a numeric id (2.x panels answer our calls with 400s or
act on nothing), so a 2.x panel is refused; within 3.x updates are partial (PATCH sends only what
changes), so later 3.x minors keep working. The version is `GET /api/system/metadata`.

Devices: `hwidDeviceLimit` is how many devices (told apart by the HWID their app sends when it
fetches the subscription) may use the user at once; 0 = no limit, null = the panel's fallback, so
we always send a number. The panel keeps the devices it has seen per user
(`GET /api/hwid/devices/{userId}`); one is forgotten by `POST /api/hwid/devices/delete`, freeing
its place. We never call `delete-all`, nor anything else that forgets a user's devices: only the
user removes one. The limit is enforced only where the panel runs with HWID_DEVICE_LIMIT_ENABLED.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from services.vpn_gateway.panels.base import (
    AccessSpec, AccountExists, Capabilities, Device, PanelAccount, PanelBackend, PanelHealth, PanelRejected,
    PanelUnavailable,
)
from services.vpn_gateway.panels.http import PanelHttp, checked_health, panel_code, read_page
from services.vpn_gateway.panels.versions import Supported, VersionGate

USERNAME_TAKEN = "A019"
PANEL_VERSION = "3.2.3"
# 3.0/3.1 were not checked against our fixtures; 4.x is a new major.
SUPPORTED = Supported(lowest="3.2.0", below="4.0.0", tested=PANEL_VERSION)


class RemnawaveBackend(PanelBackend):
    kind = "remnawave"
    capabilities = Capabilities(enforces_expiry=True, can_disable=True, lasting_traffic_limit=True,
                                device_limit=True, device_list=True)

    def __init__(self, http: PanelHttp, squads: list[str] | None = None) -> None:
        self.http = http
        self.squads = list(squads or [])
        http.gate = VersionGate(http.server, self.kind, SUPPORTED, self._version)

    async def _version(self) -> str | None:
        # 404: a panel older than the endpoint; 403: a token that may not read it. Neither says.
        reply = await self.http.request("GET", "/api/system/metadata", route="/api/system/metadata",
                                        expect=(200,), tolerate=(403, 404), probe=True)
        info = reply.body.get("response") if reply.status == 200 and isinstance(reply.body, dict) else None
        version = info.get("version") if isinstance(info, dict) else None
        return version if isinstance(version, str) else None

    async def find(self, external_id: str) -> PanelAccount | None:
        reply = await self.http.request("GET", f"/api/users/by-username/{quote(external_id, safe='')}",
                                        route="/api/users/by-username/{username}", expect=(200,), tolerate=(404,))
        if reply.status == 404:
            return None
        return self._account(reply.body)

    async def create(self, external_id: str, spec: AccessSpec) -> PanelAccount:
        body: dict[str, Any] = {
            "username": external_id,
            "status": "ACTIVE",
            "expireAt": format_time(spec.expires_at),
            "trafficLimitBytes": spec.traffic_limit_bytes,
            "trafficLimitStrategy": "NO_RESET",
            "hwidDeviceLimit": spec.device_limit,
        }
        if self.squads:
            body["activeInternalSquads"] = self.squads
        reply = await self.http.request("POST", "/api/users", route="/api/users", json=body,
                                        expect=(201, 200), tolerate=(400, 409))
        if reply.status in (400, 409):
            if reply.status == 409 or panel_code(reply) == USERNAME_TAKEN:
                raise AccountExists(f"{self.http.server}: user {external_id} exists")
            raise PanelRejected(f"{self.http.server}: POST /api/users: HTTP {reply.status} ({panel_code(reply) or 'validation'})")
        return self._account(reply.body)

    async def update(self, account: PanelAccount, *, expires_at: datetime | None = None,
                     traffic_limit_bytes: int | None = None, enabled: bool | None = None,
                     device_limit: int | None = None) -> PanelAccount:
        # Addressed by the panel's numeric id (v3); the username would do too, the id is what
        # our contract fixture (update-user.request.json) pins.
        body: dict[str, Any] = {"id": int(account.panel_id)}
        if expires_at is not None:
            body["expireAt"] = format_time(expires_at)
        if traffic_limit_bytes is not None:
            body["trafficLimitBytes"] = traffic_limit_bytes
        if enabled is not None:
            body["status"] = "ACTIVE" if enabled else "DISABLED"
        if device_limit is not None:
            body["hwidDeviceLimit"] = device_limit
        if len(body) == 1:
            return account
        reply = await self.http.request("PATCH", "/api/users", route="/api/users", json=body, expect=(200,))
        return self._account(reply.body)

    async def revoke(self, account: PanelAccount) -> None:
        await self.http.request("DELETE", f"/api/users/{self._id(account)}", route="/api/users/{userId}",
                                expect=(204, 200), tolerate=(404,))

    async def reissue(self, account: PanelAccount) -> PanelAccount:
        reply = await self.http.request("POST", f"/api/users/{self._id(account)}/actions/revoke",
                                        route="/api/users/{userId}/actions/revoke",
                                        json={"revokeOnlyPasswords": False}, expect=(200, 201))
        return self._account(reply.body)

    async def devices(self, account: PanelAccount) -> list[Device]:
        reply = await self.http.request("GET", f"/api/hwid/devices/{self._id(account)}",
                                        route="/api/hwid/devices/{userId}", expect=(200,))
        return self._devices(reply.body)

    async def remove_device(self, account: PanelAccount, device_id: str) -> bool:
        before = {d.device_id for d in await self.devices(account)}
        if device_id not in before:
            return False
        reply = await self.http.request("POST", "/api/hwid/devices/delete", route="/api/hwid/devices/delete",
                                        json={"userId": int(account.panel_id), "hwid": device_id}, expect=(200,))
        return device_id not in {d.device_id for d in self._devices(reply.body)}

    def _devices(self, body: Any) -> list[Device]:
        page = body.get("response") if isinstance(body, dict) else None
        items = page.get("devices") if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise PanelUnavailable(f"{self.http.server}: HWID device answer without devices")
        devices = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("hwid"), str):
                continue
            devices.append(Device(
                device_id=item["hwid"], platform=_text(item.get("platform")), model=_text(item.get("deviceModel")),
                os_version=_text(item.get("osVersion")), first_seen=_time(item.get("createdAt")),
                last_seen=_time(item.get("updatedAt"))))
        return devices

    async def usage(self, account: PanelAccount) -> int | None:
        reply = await self.http.request("GET", f"/api/users/{self._id(account)}", route="/api/users/{userId}",
                                        expect=(200,))
        return self._account(reply.body).used_bytes

    async def health(self) -> PanelHealth:
        # GET /api/system/health needs more than a user API token on some installs; one page of
        # users proves the panel, its database and our token, and says how many users it holds.
        return await checked_health(self.http, lambda: read_page(
            self.http, "/api/users", params={"start": "0", "size": "1"},
            page=lambda body: body.get("response") if isinstance(body, dict) else None))

    async def close(self) -> None:
        await self.http.close()

    @staticmethod
    def _id(account: PanelAccount) -> str:
        return quote(account.panel_id, safe="")

    def _account(self, body: Any) -> PanelAccount:
        user = body.get("response") if isinstance(body, dict) else None
        if not isinstance(user, dict) or "id" not in user or not user.get("subscriptionUrl"):
            raise PanelUnavailable(f"{self.http.server}: user answer without id or subscriptionUrl")
        traffic = user.get("userTraffic") or {}
        used = traffic.get("usedTrafficBytes")
        expire = user.get("expireAt")
        panel_id = user["id"]
        return PanelAccount(
            panel_id=str(int(panel_id)) if isinstance(panel_id, (int, float)) else str(panel_id),
            external_id=str(user.get("username", "")),
            access_key=str(user["subscriptionUrl"]),
            expires_at=parse_time(expire) if isinstance(expire, str) else None,
            traffic_limit_bytes=int(user.get("trafficLimitBytes") or 0),
            enabled=user.get("status") != "DISABLED",
            used_bytes=int(used) if isinstance(used, (int, float)) else None,
            # None (null): the panel's fallback applies, not a limit we set, so the next alignment writes ours.
            device_limit=int(limit) if isinstance(limit := user.get("hwidDeviceLimit"), (int, float)) else None,
        )


def format_time(moment: datetime) -> str:
    """The panel's format: UTC, milliseconds, Z (2025-01-17T15:38:45.065Z)."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _text(value: Any) -> str | None:
    return value[:64] if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None
