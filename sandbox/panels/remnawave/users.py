"""Users of the Remnawave stand-in (panel v3.2.3) and their life cycle.

v3 addresses users by a numeric ``id`` (2.x used a ``uuid``); they can also be
looked up by ``username`` and by ``shortUuid``, the subscription's public
token. Status follows the panel: ACTIVE or DISABLED are set by the admin;
EXPIRED (``expireAt`` passed) and LIMITED (traffic limit reached) are set by
the panel itself, here whenever a user is read, against the stand-in's clock.
"""

from __future__ import annotations

import itertools
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Optional

from sandbox.kit.clock import Clock, iso_ms
from sandbox.kit.users import ClockedUsers

_ALNUM = string.ascii_letters + string.digits


def short_uuid() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(16))


def _secret(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


class UserNotFound(LookupError):
    pass


class UserConflict(Exception):
    """A unique field is taken; ``field`` names which (username, shortUuid)."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass
class User:
    id: int
    username: str
    short_uuid: str
    status: str
    expire_at: datetime
    created_at: datetime
    updated_at: datetime
    traffic_limit_bytes: int = 0
    traffic_limit_strategy: str = "NO_RESET"
    telegram_id: Optional[int] = None
    email: Optional[str] = None
    description: Optional[str] = None
    tag: Optional[str] = None
    hwid_device_limit: Optional[int] = None
    external_squad_uuid: Optional[str] = None
    active_internal_squads: list[dict] = field(default_factory=list)
    trojan_password: str = field(default_factory=lambda: _secret(30))
    vless_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    ss_password: str = field(default_factory=lambda: _secret(32))
    last_triggered_threshold: int = 0
    sub_revoked_at: Optional[datetime] = None
    last_traffic_reset_at: Optional[datetime] = None
    used_traffic_bytes: int = 0
    lifetime_used_traffic_bytes: int = 0
    online_at: Optional[datetime] = None
    first_connected_at: Optional[datetime] = None

    def refresh(self, now: datetime) -> None:
        """What the panel's periodic jobs would have done by ``now``."""
        if self.status != "ACTIVE":
            return
        if self.expire_at <= now:
            self.status = "EXPIRED"
            self.updated_at = now
        elif self.traffic_limit_bytes and self.used_traffic_bytes >= self.traffic_limit_bytes:
            self.status = "LIMITED"
            self.updated_at = now

    def to_api(self, subscription_base: str) -> dict:
        def opt(moment: Optional[datetime]) -> Optional[str]:
            return iso_ms(moment) if moment is not None else None

        return {
            "id": self.id,
            "shortUuid": self.short_uuid,
            "username": self.username,
            "status": self.status,
            "trafficLimitBytes": self.traffic_limit_bytes,
            "trafficLimitStrategy": self.traffic_limit_strategy,
            "expireAt": iso_ms(self.expire_at),
            "telegramId": self.telegram_id,
            "email": self.email,
            "description": self.description,
            "tag": self.tag,
            "hwidDeviceLimit": self.hwid_device_limit,
            "externalSquadUuid": self.external_squad_uuid,
            "trojanPassword": self.trojan_password,
            "vlessUuid": self.vless_uuid,
            "ssPassword": self.ss_password,
            "lastTriggeredThreshold": self.last_triggered_threshold,
            "subRevokedAt": opt(self.sub_revoked_at),
            "lastTrafficResetAt": opt(self.last_traffic_reset_at),
            "createdAt": iso_ms(self.created_at),
            "updatedAt": iso_ms(self.updated_at),
            "subscriptionUrl": f"{subscription_base}/{self.short_uuid}",
            "activeInternalSquads": list(self.active_internal_squads),
            "userTraffic": {
                "usedTrafficBytes": self.used_traffic_bytes,
                "lifetimeUsedTrafficBytes": self.lifetime_used_traffic_bytes,
                "onlineAt": opt(self.online_at),
                "firstConnectedAt": opt(self.first_connected_at),
                "lastConnectedNodeUuid": None,
            },
        }


class UserStore(ClockedUsers[int, User]):
    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self._ids = itertools.count(1)

    def reset(self) -> None:
        super().reset()
        self._ids = itertools.count(1)

    def by_id(self, user_id: int) -> User:
        user = self._users.get(user_id)
        if user is None:
            raise UserNotFound(user_id)
        return self._fresh(user)

    def by_username(self, username: str) -> User:
        for user in self._users.values():
            if user.username == username:
                return self._fresh(user)
        raise UserNotFound(username)

    def by_short_uuid(self, value: str) -> User:
        for user in self._users.values():
            if user.short_uuid == value:
                return self._fresh(user)
        raise UserNotFound(value)

    def _check_unique(self, *, username: Optional[str] = None, short: Optional[str] = None, exclude: int = 0) -> None:
        for user in self._users.values():
            if user.id == exclude:
                continue
            if username is not None and user.username == username:
                raise UserConflict("username")
            if short is not None and user.short_uuid == short:
                raise UserConflict("shortUuid")

    def create(self, body: dict) -> User:
        """``body`` is a validated CreateUserBodyDto (camelCase keys)."""
        short = body.get("shortUuid") or short_uuid()
        self._check_unique(username=body["username"], short=short)
        now = self._clock.now()
        squads = body.get("activeInternalSquads")
        user = User(
            id=next(self._ids),
            username=body["username"],
            short_uuid=short,
            status=body.get("status", "ACTIVE"),
            expire_at=body["expireAt"],
            created_at=body.get("createdAt") or now,
            updated_at=now,
            traffic_limit_bytes=int(body.get("trafficLimitBytes") or 0),
            traffic_limit_strategy=body.get("trafficLimitStrategy", "NO_RESET"),
            telegram_id=body.get("telegramId"),
            email=body.get("email"),
            description=body.get("description"),
            tag=body.get("tag"),
            hwid_device_limit=body.get("hwidDeviceLimit"),
            external_squad_uuid=body.get("externalSquadUuid"),
            active_internal_squads=[{"uuid": s, "name": "Squad"} for s in squads] if squads else [],
            last_traffic_reset_at=body.get("lastTrafficResetAt"),
        )
        for name, attr in (("trojanPassword", "trojan_password"), ("vlessUuid", "vless_uuid"), ("ssPassword", "ss_password")):
            if body.get(name):
                setattr(user, attr, body[name])
        self._users[user.id] = user
        return self._fresh(user)

    def update(self, user: User, body: dict) -> User:
        """Apply a validated UpdateUserBodyDto to ``user``."""
        now = self._clock.now()
        simple = {
            "trafficLimitStrategy": "traffic_limit_strategy",
            "tag": "tag",
            "telegramId": "telegram_id",
            "email": "email",
            "hwidDeviceLimit": "hwid_device_limit",
            "externalSquadUuid": "external_squad_uuid",
        }
        for name, attr in simple.items():
            if name in body:
                setattr(user, attr, body[name])
        if "activeInternalSquads" in body:
            user.active_internal_squads = [{"uuid": s, "name": "Squad"} for s in body["activeInternalSquads"]]
        if "trafficLimitBytes" in body:
            user.traffic_limit_bytes = int(body["trafficLimitBytes"])
            limit = user.traffic_limit_bytes
            if user.status == "LIMITED" and (limit == 0 or user.used_traffic_bytes < limit):
                user.status = "ACTIVE"
        if "expireAt" in body:
            user.expire_at = body["expireAt"]
            if user.status == "EXPIRED" and user.expire_at > now:
                user.status = "ACTIVE"
        if "status" in body:
            user.status = body["status"]
        user.updated_at = now
        return self._fresh(user)

    def extend(self, user: User, days: float) -> User:
        now = self._clock.now()
        user.expire_at = user.expire_at + timedelta(days=days)
        if user.status == "EXPIRED" and user.expire_at > now:
            user.status = "ACTIVE"
        user.updated_at = now
        return self._fresh(user)

    def revoke(self, user: User, *, only_passwords: bool, new_short: Optional[str]) -> User:
        if not only_passwords:
            short = new_short or short_uuid()
            self._check_unique(short=short, exclude=user.id)
            user.short_uuid = short
        user.trojan_password = _secret(30)
        user.vless_uuid = str(uuid.uuid4())
        user.ss_password = _secret(32)
        now = self._clock.now()
        user.sub_revoked_at = now
        user.updated_at = now
        return self._fresh(user)

    def set_status(self, user: User, status: str) -> User:
        user.status = status
        user.updated_at = self._clock.now()
        return self._fresh(user)

    def reset_traffic(self, user: User) -> User:
        now = self._clock.now()
        user.used_traffic_bytes = 0
        user.last_traffic_reset_at = now
        if user.status == "LIMITED":
            user.status = "ACTIVE"
        user.updated_at = now
        return self._fresh(user)

    def add_traffic(self, user: User, bytes_used: int) -> User:
        now = self._clock.now()
        user.used_traffic_bytes += bytes_used
        user.lifetime_used_traffic_bytes += bytes_used
        user.online_at = now
        if user.first_connected_at is None:
            user.first_connected_at = now
        return self._fresh(user)

    def delete(self, user: User) -> None:
        del self._users[user.id]
