"""HWID devices of the Remnawave stand-in, as panel v3.2.3 keeps them.

A VPN app fetching the subscription sends its hardware id (``x-hwid``) with ``x-device-os``,
``x-ver-os`` and ``x-device-model``. The panel remembers each device per user; a user whose
limit (``hwidDeviceLimit``; null = the panel's fallback, 0 = no limit) is reached is refused the
subscription on a new device, and a device the admin (or the shop, for its user) deletes frees
its place. Deleting a user deletes its devices.

    GET  /api/hwid/devices/{userId}        {"response": {"total", "devices": [...]}}
    POST /api/hwid/devices/delete          {"userId", "hwid"} -> the devices left
    POST /api/hwid/devices/delete-all      {"userId"}         -> none left
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from sandbox.kit.clock import iso_ms


class DeviceLimitReached(Exception):
    pass


@dataclass
class HwidDevice:
    hwid: str
    platform: Optional[str]
    os_version: Optional[str]
    device_model: Optional[str]
    user_agent: Optional[str]
    request_ip: Optional[str]
    created_at: datetime
    updated_at: datetime

    def to_api(self, user_id: int) -> dict[str, Any]:
        return {"hwid": self.hwid, "userId": user_id, "platform": self.platform, "osVersion": self.os_version,
                "deviceModel": self.device_model, "userAgent": self.user_agent, "requestIp": self.request_ip,
                "createdAt": iso_ms(self.created_at), "updatedAt": iso_ms(self.updated_at)}


class HwidDevices:
    """Every user's devices, by user id, in the order first seen."""

    def __init__(self, fallback_limit: Optional[int] = None) -> None:
        self.fallback_limit = fallback_limit          # HWID_FALLBACK_DEVICE_LIMIT; None = not enforced
        self._by_user: dict[int, dict[str, HwidDevice]] = {}

    def reset(self) -> None:
        self._by_user.clear()

    def of(self, user_id: int) -> list[HwidDevice]:
        return list(self._by_user.get(user_id, {}).values())

    def page(self, user_id: int) -> dict[str, Any]:
        devices = [d.to_api(user_id) for d in self.of(user_id)]
        return {"response": {"total": len(devices), "devices": devices}}

    def see(self, user_id: int, limit: Optional[int], hwid: str, now: datetime, *, platform: Optional[str] = None,
            os_version: Optional[str] = None, model: Optional[str] = None, user_agent: Optional[str] = None,
            ip: Optional[str] = None) -> HwidDevice:
        """A device fetched the subscription: remembered, or refused when the limit is reached."""
        devices = self._by_user.setdefault(user_id, {})
        known = devices.get(hwid)
        if known is not None:
            known.updated_at = now
            return known
        effective = self.fallback_limit if limit is None else limit
        if effective and len(devices) >= effective:
            raise DeviceLimitReached(hwid)
        device = HwidDevice(hwid, platform, os_version, model, user_agent, ip, now, now)
        devices[hwid] = device
        return device

    def delete(self, user_id: int, hwid: str) -> bool:
        return self._by_user.get(user_id, {}).pop(hwid, None) is not None

    def delete_all(self, user_id: int) -> int:
        return len(self._by_user.pop(user_id, {}))
