"""Users of the Marzban stand-in (panel 0.8.4) and their life cycle.

Users are addressed by ``username``. Status follows the panel: ``active``,
``disabled`` and ``on_hold`` are set by the admin; ``expired`` (``expire``
passed) and ``limited`` (``data_limit`` reached) by the panel's review job,
here whenever a user is read, against the stand-in's clock. ``expire`` is
unix seconds; 0 or null means never, stored as None (and printed as null),
as is a ``data_limit`` of 0.

Subscription tokens are urlsafe base64 of ``<username>,<issued at>`` plus a
10-character signature, as in Marzban; a token issued before the user's last
``revoke_sub`` (or before the user was made) is refused. Marzban's ``issued
at`` is in whole seconds, so a URL read in the same second as a revoke stays
valid there; the stand-in counts milliseconds so that tests need not wait.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

from sandbox.kit.clock import Clock
from sandbox.kit.users import ClockedUsers

PROTOCOLS = ("vmess", "vless", "trojan", "shadowsocks")
INBOUNDS = {
    "vmess": ["VMess TCP"],
    "vless": ["VLESS TCP REALITY"],
    "trojan": ["Trojan Websocket TLS"],
    "shadowsocks": ["Shadowsocks TCP"],
}


class UserNotFound(LookupError):
    pass


class UserConflict(Exception):
    pass


def new_settings(protocol: str, given: Optional[dict] = None) -> dict:
    """A proxy's credentials, keeping what the request gave."""
    given = dict(given or {})
    if protocol in ("vmess", "vless"):
        given.setdefault("id", str(uuid.uuid4()))
        if protocol == "vless":
            given.setdefault("flow", "")
    else:
        given.setdefault("password", secrets.token_urlsafe(16))
        given.setdefault("method" if protocol == "shadowsocks" else "flow",
                         "chacha20-ietf-poly1305" if protocol == "shadowsocks" else "")
    return given


def naive(moment: Optional[datetime]) -> Optional[str]:
    """Marzban prints its (UTC, naive) datetimes without an offset."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat()


@dataclass
class User:
    username: str
    proxies: dict[str, dict]
    inbounds: dict[str, list[str]]
    created_at: datetime
    status: str = "active"
    expire: Optional[int] = None
    data_limit: Optional[int] = None
    data_limit_reset_strategy: str = "no_reset"
    note: Optional[str] = None
    used_traffic: int = 0
    lifetime_used_traffic: int = 0
    sub_revoked_at: Optional[datetime] = None
    online_at: Optional[datetime] = None
    usage_by_node: dict[str, int] = field(default_factory=dict)

    def refresh(self, now: datetime) -> None:
        """What the panel's review job would have done by ``now``."""
        if self.status != "active":
            return
        if self.expire and self.expire <= now.timestamp():
            self.status = "expired"
        elif self.data_limit and self.used_traffic >= self.data_limit:
            self.status = "limited"

    def links(self) -> list[str]:
        out = []
        for protocol, settings in self.proxies.items():
            for tag in self.inbounds.get(protocol, []):
                name = f"{tag} ({self.username})".replace(" ", "%20")
                if protocol in ("vmess", "vless"):
                    out.append(f"{protocol}://{settings['id']}@127.0.0.1:443?type=tcp#{name}")
                elif protocol == "trojan":
                    out.append(f"trojan://{settings['password']}@127.0.0.1:443?type=ws#{name}")
                else:
                    auth = base64.urlsafe_b64encode(f"{settings['method']}:{settings['password']}".encode()).decode()
                    out.append(f"ss://{auth}@127.0.0.1:1080#{name}")
        return out

    def to_api(self, subscription_url: str) -> dict:
        return {
            "proxies": self.proxies,
            "expire": self.expire,
            "data_limit": self.data_limit,
            "data_limit_reset_strategy": self.data_limit_reset_strategy,
            "inbounds": self.inbounds,
            "note": self.note,
            "sub_updated_at": None,
            "sub_last_user_agent": None,
            "online_at": naive(self.online_at),
            "on_hold_expire_duration": None,
            "on_hold_timeout": None,
            "auto_delete_in_days": None,
            "next_plan": None,
            "username": self.username,
            "status": self.status,
            "used_traffic": self.used_traffic,
            "lifetime_used_traffic": self.lifetime_used_traffic,
            "created_at": naive(self.created_at),
            "links": self.links(),
            "subscription_url": subscription_url,
            "excluded_inbounds": {p: [] for p in self.proxies},
            "admin": {"username": "admin", "is_sudo": True, "telegram_id": None, "discord_webhook": None,
                      "users_usage": None},
        }


class UserStore(ClockedUsers[str, User]):
    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self._secret = secrets.token_hex(16)

    def get(self, username: str) -> User:
        user = self._users.get(username)
        if user is None:
            raise UserNotFound(username)
        return self._fresh(user)

    def create(self, body: dict) -> User:
        """``body`` is a validated UserCreate."""
        if body["username"] in self._users:
            raise UserConflict(body["username"])
        proxies = {p: new_settings(p, s) for p, s in body["proxies"].items()}
        inbounds = {p: list((body.get("inbounds") or {}).get(p) or INBOUNDS[p]) for p in proxies}
        user = User(username=body["username"], proxies=proxies, inbounds=inbounds, created_at=self._clock.now(),
                    status=body.get("status") or "active", expire=body.get("expire") or None,
                    data_limit=body.get("data_limit") or None,
                    data_limit_reset_strategy=body.get("data_limit_reset_strategy") or "no_reset",
                    note=body.get("note"))
        self._users[user.username] = user
        return self._fresh(user)

    def modify(self, user: User, body: dict) -> User:
        """Apply a validated UserModify the way Marzban's crud.update_user does."""
        now = self._clock.now().timestamp()
        if body.get("status") is not None:
            user.status = body["status"]
        if body.get("data_limit") is not None:
            user.data_limit = body["data_limit"] or None
            if user.status not in ("expired", "disabled"):
                if not user.data_limit or user.used_traffic < user.data_limit:
                    if user.status != "on_hold":
                        user.status = "active"
                else:
                    user.status = "limited"
        if body.get("expire") is not None:
            user.expire = body["expire"] or None
            if user.status in ("active", "expired"):
                user.status = "active" if not user.expire or user.expire > now else "expired"
        if body.get("data_limit_reset_strategy") is not None:
            user.data_limit_reset_strategy = body["data_limit_reset_strategy"]
        if body.get("note") is not None:
            user.note = body["note"]
        for protocol, settings in (body.get("proxies") or {}).items():
            user.proxies[protocol] = new_settings(protocol, settings)
        return self._fresh(user)

    def revoke_sub(self, user: User) -> User:
        """New proxy credentials; every subscription token issued so far is refused."""
        user.sub_revoked_at = self._clock.now()
        user.proxies = {p: new_settings(p) for p in user.proxies}
        return self._fresh(user)

    def reset_usage(self, user: User) -> User:
        user.used_traffic = 0
        user.usage_by_node.clear()
        if user.status == "limited":
            user.status = "active"
        return self._fresh(user)

    def add_traffic(self, user: User, bytes_used: int, node: str = "Master") -> User:
        user.used_traffic += bytes_used
        user.lifetime_used_traffic += bytes_used
        user.usage_by_node[node] = user.usage_by_node.get(node, 0) + bytes_used
        user.online_at = self._clock.now()
        return self._fresh(user)

    def delete(self, user: User) -> None:
        del self._users[user.username]

    # ---- subscription tokens -------------------------------------------------
    def _sign(self, data: str) -> str:
        digest = hashlib.sha256((data + self._secret).encode()).digest()
        return base64.urlsafe_b64encode(digest).decode()[:10]

    def token(self, user: User) -> str:
        issued = math.ceil(self._clock.now().timestamp() * 1000)   # Marzban: ceil, in seconds
        data = base64.urlsafe_b64encode(f"{user.username},{issued}".encode()).decode().rstrip("=")
        return data + self._sign(data)

    def by_token(self, token: str) -> User:
        """The user a subscription token is for; ValueError when it is not one of ours,
        UserNotFound when the user is gone or the token was revoked."""
        data, signature = token[:-10], token[-10:]
        if len(token) < 15 or self._sign(data) != signature:
            raise ValueError("bad signature")
        username, _, issued = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode().partition(",")
        moment = datetime.fromtimestamp(int(issued) / 1000, timezone.utc)
        user = self.get(username)
        if user.created_at > moment or (user.sub_revoked_at is not None and user.sub_revoked_at > moment):
            raise UserNotFound(username)
        return user
