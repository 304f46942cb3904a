"""vpn_gateway's settings: the VPN servers (ATCS_VPN_SERVERS) and the activation worker's knobs.

Only this service reads them, so a bad ATCS_VPN_SERVERS stops vpn_gateway and nothing else."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator

from common.settings.base import ConfigError, EnvSettings
from common.settings.service import ServiceSettings


class VpnServer(BaseModel):
    """One VPN panel in ATCS_VPN_SERVERS. Its URL and token are credentials (Outline's apiUrl
    carries the secret path prefix), so both are SecretStr and never printed."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="our name for it; stored in vpn_accounts.server")
    backend: Literal["outline", "remnawave", "marzban", "3x-ui"] = Field(description="panel kind")
    api_url: SecretStr = Field(description="Outline: the apiUrl the server printed; Remnawave, Marzban, 3x-ui: the panel's base URL (3x-ui: with its web base path)")
    cert_sha256: str | None = Field(
        None, description="SHA-256 of the panel's TLS certificate, 64 hex digits, colons optional (Outline: the "
                          "certSha256 it printed): only a certificate with this fingerprint is accepted, whatever "
                          "its chain or hostname (for a self-signed panel); without it the system CAs verify it")
    token: SecretStr | None = Field(None, description="Remnawave API token (Bearer)")
    capacity: int = Field(1000, ge=1, description="most active accounts the server takes")
    weight: float = Field(1.0, gt=0, le=100, description="preference among servers of equal load")
    accepts_new: bool = Field(True, description="false drains the server: existing accounts stay, new users go elsewhere")
    max_concurrency: int = Field(4, ge=1, le=256, description="panel requests in flight at once")
    connect_timeout: float = Field(3.0, gt=0, le=60, description="seconds to connect")
    request_timeout: float = Field(10.0, gt=0, le=300, description="seconds for one panel request")
    retries: int = Field(2, ge=0, le=10, description="extra attempts of one request on 5xx, 429 and network errors")
    squads: list[str] = Field(default_factory=list, description="Remnawave internal squad UUIDs given to new users")
    admin_username: SecretStr | None = Field(None, description="Marzban admin username (POST /api/admin/token); 3x-ui panel login username (POST /login)")
    admin_password: SecretStr | None = Field(None, description="Marzban admin password; 3x-ui panel login password")
    inbound_id: int | None = Field(None, ge=1, description="3x-ui: id of the inbound new clients are added to")
    flow: Literal["", "xtls-rprx-vision"] = Field(
        "", description="3x-ui: XTLS flow of new VLESS clients (xtls-rprx-vision for a VLESS Reality/TLS inbound)")
    proxies: list[Literal["vless", "vmess", "trojan", "shadowsocks"]] = Field(
        default_factory=lambda: ["vless"], min_length=1,
        description="Marzban protocols a new user gets (all inbounds of each)")

    @field_validator("cert_sha256", mode="before")
    @classmethod
    def _fingerprint(cls, value: Any) -> Any:
        # Stored as Outline prints it (upper case, no colons); the value is not echoed.
        if value is None:
            return None
        digits = value.replace(":", "").strip() if isinstance(value, str) else ""
        if len(digits) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ValueError("must be the certificate's SHA-256: 64 hex digits, colons allowed "
                             "(as Outline prints certSha256)")
        return digits.upper()

    @model_validator(mode="after")
    def _check(self) -> "VpnServer":
        # Messages name the field, never the value: the value is a credential.
        if not self.api_url.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("api_url must be an http(s) URL")
        if self.cert_sha256 is not None and not self.api_url.get_secret_value().startswith("https://"):
            raise ValueError("cert_sha256 needs an https api_url (plain http has no certificate to pin)")
        if self.backend == "remnawave" and not (self.token and self.token.get_secret_value()):
            raise ValueError("a remnawave server needs a token")
        if self.backend == "marzban" and not all(s and s.get_secret_value()
                                                 for s in (self.admin_username, self.admin_password)):
            raise ValueError("a marzban server needs admin_username and admin_password")
        if self.backend == "3x-ui" and not all(s and s.get_secret_value()
                                               for s in (self.admin_username, self.admin_password)):
            raise ValueError("a 3x-ui server needs admin_username and admin_password")
        if self.backend == "3x-ui" and self.inbound_id is None:
            raise ValueError("a 3x-ui server needs inbound_id")
        return self


class VpnSettings(EnvSettings):
    # The whole list is one secret: it holds panel URLs with secret paths and API tokens.
    vpn_servers: SecretStr = Field(SecretStr("[]"), description="JSON list of VPN servers: name, backend, api_url, token, capacity, weight, max_concurrency, timeouts")
    vpn_worker_concurrency: int = Field(8, ge=1, le=256, description="activations worked on at once (a server gets at most its max_concurrency of them)")
    vpn_max_attempts: int = Field(5, ge=1, le=1000, description="failed attempts after which admins are alerted and the user told it is delayed (retries go on)")
    vpn_retry_base: float = Field(1.0, gt=0, le=600, description="first retry delay of a failed activation, seconds (doubles each time)")
    vpn_retry_max: float = Field(60.0, gt=0, le=3600, description="longest retry delay of a failed activation, seconds")
    vpn_lease_seconds: float = Field(120.0, ge=5, le=3600, description="how long a claimed activation is hidden from other claims; one attempt must end within it")
    vpn_scan_interval: float = Field(2.0, gt=0, le=300, description="seconds between scans of the activation queue when not nudged")
    vpn_usage_cache_ttl: float = Field(60.0, ge=0, le=86400, description="seconds a usage figure is served without asking the panel")
    vpn_usage_timeout: float = Field(0.4, gt=0, le=30, description="seconds a usage request waits on the panel before answering from the cache")
    vpn_devices_timeout: float = Field(0.4, gt=0, le=30, description="seconds a user's device list or removal waits on the panel before 'try again'")
    vpn_breaker_threshold: int = Field(5, ge=1, le=1000, description="consecutive failures that open a server's circuit breaker")
    vpn_breaker_cooldown: float = Field(10.0, gt=0, le=3600, description="seconds an open breaker waits before a trial request")
    vpn_health_interval: float = Field(10.0, gt=0, le=3600, description="seconds between health probes of each server")
    vpn_bulk_concurrency: int = Field(4, ge=1, le=256, description="reissues of one bulk job in the activation queue at once")
    _servers: list[VpnServer] = PrivateAttr(default_factory=list)

    def model_post_init(self, _context: Any) -> None:
        self._servers = _parse_vpn_servers(self.vpn_servers.get_secret_value())

    @property
    def servers(self) -> list[VpnServer]:
        return list(self._servers)


def _parse_vpn_servers(raw: str) -> list[VpnServer]:
    # Parsed here rather than by pydantic-settings so that no error message can echo the value.
    try:
        items = orjson.loads(raw or "[]")
    except orjson.JSONDecodeError:
        raise ConfigError("ATCS_VPN_SERVERS is invalid: not valid JSON") from None
    if not isinstance(items, list):
        raise ConfigError("ATCS_VPN_SERVERS is invalid: expected a JSON list of servers")
    servers: list[VpnServer] = []
    for index, item in enumerate(items):
        try:
            servers.append(VpnServer.model_validate(item))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "server"
            raise ConfigError(f"ATCS_VPN_SERVERS is invalid: server {index}: {where}: {error['msg']}") from None
    names = [s.name for s in servers]
    if len(set(names)) != len(names):
        raise ConfigError("ATCS_VPN_SERVERS is invalid: server names must be unique")
    return servers


@dataclass
class Settings(ServiceSettings):
    """What vpn_gateway is built from: the shared sections and the VPN servers."""
    vpn: VpnSettings
