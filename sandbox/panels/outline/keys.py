"""Access keys of the Outline stand-in and the server settings they depend on.

Mirrors shadowbox's model: keys get increasing numeric string ids
("0", "1", ...) unless created with an explicit id; each has a Shadowsocks
method, password and port; a per-key data limit overrides the server-wide
one. Transfer usage is simulated (set through the control API), and a key is
"over limit" when its usage reaches its effective limit; the real server then
stops its traffic, which is invisible to the management API.
"""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import dataclass
from typing import Optional

from sandbox.panels.outline.access_url import access_url

# Ciphers the upstream server accepts for new keys.
METHODS = ("chacha20-ietf-poly1305", "aes-256-gcm", "aes-192-gcm", "aes-128-gcm")
DEFAULT_METHOD = "chacha20-ietf-poly1305"

_PASSWORD_ALPHABET = string.ascii_letters + string.digits


class KeyNotFound(LookupError):
    pass


class KeyConflict(Exception):
    pass


@dataclass
class AccessKey:
    id: str
    name: str
    password: str
    port: int
    method: str
    data_limit: Optional[int] = None
    bytes_transferred: int = 0

    def to_api(self, hostname: str) -> dict:
        data = {
            "id": self.id,
            "name": self.name,
            "password": self.password,
            "port": self.port,
            "method": self.method,
        }
        # Upstream sets dataLimit: undefined when there is none, so the field is absent.
        if self.data_limit is not None:
            data["dataLimit"] = {"bytes": self.data_limit}
        data["accessUrl"] = access_url(self.method, self.password, hostname, self.port)
        return data


@dataclass
class ServerSettings:
    name: str
    server_id: str
    created_ms: int
    hostname: str
    port_for_new_keys: int
    metrics_enabled: bool = False
    default_data_limit: Optional[int] = None


class KeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, AccessKey] = {}
        self._next_id = 0

    def reset(self) -> None:
        self._keys.clear()
        self._next_id = 0

    def __len__(self) -> int:
        return len(self._keys)

    def all(self) -> list[AccessKey]:
        return list(self._keys.values())

    def get(self, key_id: str) -> AccessKey:
        try:
            return self._keys[key_id]
        except KeyError:
            raise KeyNotFound(key_id) from None

    def create(
        self,
        *,
        port: int,
        key_id: Optional[str] = None,
        name: Optional[str] = None,
        method: Optional[str] = None,
        password: Optional[str] = None,
        data_limit: Optional[int] = None,
    ) -> AccessKey:
        if key_id is None:
            while str(self._next_id) in self._keys:
                self._next_id += 1
            key_id = str(self._next_id)
            self._next_id += 1
        elif key_id in self._keys:
            raise KeyConflict(key_id)
        key = AccessKey(
            id=key_id,
            name=name or "",
            password=password or "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(22)),
            port=port,
            method=method or DEFAULT_METHOD,
            data_limit=data_limit,
        )
        self._keys[key_id] = key
        return key

    def delete(self, key_id: str) -> None:
        self.get(key_id)
        del self._keys[key_id]


def new_server_settings(name: str, hostname: str, port_for_new_keys: int, created_ms: int) -> ServerSettings:
    return ServerSettings(
        name=name,
        server_id=str(uuid.uuid4()),
        created_ms=created_ms,
        hostname=hostname,
        port_for_new_keys=port_for_new_keys,
    )
