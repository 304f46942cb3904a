"""Inbounds and clients of the 3x-ui stand-in (panel v3.6.0) and their life cycle.

v3 keeps clients in their own table, unique by ``email`` across the panel, each attached to
one or more inbounds; the API addresses them by email. Times are UTC milliseconds
(``expiryTime`` 0 = never), traffic limits are bytes (``totalGB``, despite the name).
A client whose expiry passed or whose traffic reached its limit is switched off by the
panel itself (``enable`` false), here whenever it is read, against the stand-in's clock.
An update replaces the whole client: a field left out takes its zero value, as Go's JSON
decoding gives it.
"""

from __future__ import annotations

import itertools
import secrets
import string
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import quote, urlencode

from sandbox.kit.clock import Clock

_ALNUM = string.ascii_lowercase + string.digits


def sub_id() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(16))


class ClientNotFound(LookupError):
    pass


class ClientError(ValueError):
    """A refusal, worded as the panel words it (``msg``)."""


@dataclass
class Inbound:
    id: int
    protocol: str = "vless"
    port: int = 443
    remark: str = "VLESS-443"
    public_key: str = field(default_factory=lambda: secrets.token_urlsafe(32)[:43])
    short_id: str = field(default_factory=lambda: secrets.token_hex(4))
    sni: str = "www.example.com"

    def to_api(self, clients: list["Client"], now_ms: int) -> dict[str, Any]:
        mine = [c for c in clients if self.id in c.inbound_ids]
        return {
            "id": self.id, "up": 0, "down": 0, "total": 0, "remark": self.remark, "enable": True,
            "expiryTime": 0, "trafficReset": "never", "trafficResetDay": 1, "lastTrafficResetTime": 0,
            "clientStats": [c.traffic(self.id) for c in mine], "listen": "", "port": self.port,
            "protocol": self.protocol, "tag": f"inbound-{self.port}", "shareAddr": "", "shareAddrStrategy": "node",
            "subSortIndex": 1, "nodeId": None, "originNodeGuid": "",
            "settings": {"clients": [c.settings_entry() for c in mine], "decryption": "none"},
            "streamSettings": {"network": "tcp", "security": "reality",
                               "realitySettings": {"serverNames": [self.sni], "shortIds": [self.short_id],
                                                   "settings": {"publicKey": self.public_key, "fingerprint": "chrome"}}},
            "sniffing": {"enabled": False},
        }

    def link(self, client: "Client", host: str) -> str:
        name = quote(f"{self.remark}-{client.email}", safe="")
        if self.protocol == "trojan":
            query = urlencode({"type": "tcp", "security": "reality", "pbk": self.public_key, "fp": "chrome",
                               "sni": self.sni, "sid": self.short_id})
            return f"trojan://{client.password}@{host}:{self.port}?{query}#{name}"
        query = urlencode({"type": "tcp", "encryption": "none", "security": "reality", "pbk": self.public_key,
                           "fp": "chrome", "sni": self.sni, "sid": self.short_id, "spx": "/",
                           **({"flow": client.flow} if client.flow else {})})
        return f"{self.protocol}://{client.uuid}@{host}:{self.port}?{query}#{name}"


@dataclass
class Client:
    row_id: int
    email: str
    uuid: str
    sub_id: str
    inbound_ids: list[int]
    enable: bool = True
    expiry_ms: int = 0
    total: int = 0
    limit_ip: int = 0
    tg_id: int = 0
    comment: str = ""
    reset: int = 0
    security: str = ""
    flow: str = ""
    password: str = ""
    group: str = ""
    created_ms: int = 0
    updated_ms: int = 0
    up: int = 0
    down: int = 0
    last_online: int = 0

    def depleted(self, now_ms: int) -> bool:
        return (0 < self.expiry_ms <= now_ms) or (self.total > 0 and self.up + self.down >= self.total)

    def record(self) -> dict[str, Any]:
        """``ClientRecord``, as ``GET /panel/api/clients/get/{email}`` shows it."""
        return {
            "id": self.row_id, "uuid": self.uuid, "email": self.email, "enable": self.enable,
            "expiryTime": self.expiry_ms, "totalGB": self.total, "limitIp": self.limit_ip, "subId": self.sub_id,
            "tgId": self.tg_id, "comment": self.comment, "reset": self.reset, "security": self.security,
            "flow": self.flow, "password": self.password, "group": self.group, "auth": "", "adTag": "",
            "allowedIPs": "", "keepAlive": 0, "preSharedKey": "", "privateKey": "", "publicKey": "",
            "reverse": None, "secret": "", "createdAt": self.created_ms, "updatedAt": self.updated_ms,
        }

    def traffic(self, inbound_id: int) -> dict[str, Any]:
        """``ClientTraffic``."""
        return {
            "id": self.row_id, "inboundId": inbound_id, "enable": self.enable, "email": self.email,
            "uuid": self.uuid, "subId": self.sub_id, "up": self.up, "down": self.down,
            "expiryTime": self.expiry_ms, "total": self.total, "reset": self.reset, "lastOnline": self.last_online,
        }

    def settings_entry(self) -> dict[str, Any]:
        return {"id": self.uuid, "email": self.email, "enable": self.enable, "expiryTime": self.expiry_ms,
                "totalGB": self.total, "limitIp": self.limit_ip, "subId": self.sub_id, "tgId": self.tg_id,
                "flow": self.flow, "password": self.password, "comment": self.comment, "reset": self.reset}


def _int(payload: dict, name: str) -> int:
    value = payload.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ClientError(f"json: cannot unmarshal {type(value).__name__} into Go struct field Client.{name} of type int64")
    return value


def _str(payload: dict, name: str) -> str:
    value = payload.get(name, "")
    if not isinstance(value, str):
        raise ClientError(f"json: cannot unmarshal {type(value).__name__} into Go struct field Client.{name} of type string")
    return value


class ClientStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.inbounds: dict[int, Inbound] = {}
        self._clients: dict[str, Client] = {}
        self._ids = itertools.count(1)

    def now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    def reset(self) -> None:
        self._clients.clear()
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._clients)

    def _fresh(self, client: Client) -> Client:
        if client.enable and client.depleted(self.now_ms()):
            client.enable = False              # the panel's periodic job switches it off
        return client

    def all(self) -> list[Client]:
        return [self._fresh(c) for c in self._clients.values()]

    def by_email(self, email: str) -> Client:
        client = self._clients.get(email)
        if client is None:
            raise ClientNotFound(email)
        return self._fresh(client)

    def by_sub_id(self, value: str) -> list[Client]:
        return [c for c in self.all() if c.sub_id == value]

    def inbound(self, inbound_id: int) -> Inbound:
        inbound = self.inbounds.get(inbound_id)
        if inbound is None:
            raise ClientNotFound(inbound_id)
        return inbound

    def _apply(self, client: Client, payload: dict) -> None:
        """Every field of a Client payload; absent ones take Go's zero value."""
        enable = payload.get("enable", False)
        if not isinstance(enable, bool):
            raise ClientError("json: cannot unmarshal into Go struct field Client.enable of type bool")
        client.enable = enable
        client.expiry_ms, client.total = _int(payload, "expiryTime"), _int(payload, "totalGB")
        client.limit_ip, client.tg_id, client.reset = _int(payload, "limitIp"), _int(payload, "tgId"), _int(payload, "reset")
        client.comment, client.security = _str(payload, "comment"), _str(payload, "security")
        client.flow, client.group = _str(payload, "flow"), _str(payload, "group")
        client.password = _str(payload, "password") or client.password
        client.sub_id = _str(payload, "subId") or client.sub_id
        client.uuid = _str(payload, "id") or client.uuid
        if client.total < 0:
            raise ClientError("totalGB must not be negative")
        try:
            uuid.UUID(client.uuid)
        except ValueError:
            raise ClientError(f"invalid client id: {client.uuid}") from None

    def create(self, payload: Any, inbound_ids: Any) -> Client:
        if not isinstance(payload, dict):
            raise ClientError("client is required")
        email = _str(payload, "email").strip()
        if not email:
            raise ClientError("client email is required")
        if not isinstance(inbound_ids, list) or not inbound_ids or not all(isinstance(i, int) for i in inbound_ids):
            raise ClientError("at least one inbound id is required")
        for inbound_id in inbound_ids:
            if inbound_id not in self.inbounds:
                raise ClientError("record not found")
        if email in self._clients:
            raise ClientError(f"Duplicate email: {email}")
        now = self.now_ms()
        client = Client(row_id=next(self._ids), email=email, uuid=str(uuid.uuid4()), sub_id=sub_id(),
                        inbound_ids=list(inbound_ids), created_ms=now, updated_ms=now,
                        password=secrets.token_hex(8))
        self._apply(client, payload)
        self._clients[email] = client
        return self._fresh(client)

    def update(self, email: str, payload: Any) -> Client:
        client = self._clients.get(email)
        if client is None:
            raise ClientError("record not found")
        if not isinstance(payload, dict):
            raise ClientError("invalid client payload")
        new_email = _str(payload, "email").strip() or email
        if new_email != email and new_email in self._clients:
            raise ClientError(f"Duplicate email: {new_email}")
        self._apply(client, payload)
        client.updated_ms = self.now_ms()
        if new_email != email:
            del self._clients[email]
            client.email = new_email
            self._clients[new_email] = client
        return self._fresh(client)

    def delete(self, email: str) -> None:
        if self._clients.pop(email, None) is None:
            raise ClientError("record not found")

    def add_traffic(self, email: str, bytes_used: int) -> Client:
        client = self.by_email(email)
        client.down += bytes_used
        client.last_online = self.now_ms()
        return self._fresh(client)

    def links(self, client: Client, host: str) -> list[str]:
        return [self.inbounds[i].link(client, host) for i in client.inbound_ids if i in self.inbounds]

    def find(self, email: str) -> Optional[Client]:
        try:
            return self.by_email(email)
        except ClientNotFound:
            return None
