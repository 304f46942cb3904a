"""The one interface every panel backend implements, and the errors they raise.

The gateway's logic (activations, usage, bulk reissue) sees only this; a new panel (Marzban,
3x-ui) is one more module implementing `PanelBackend` plus a line in registry.py.

Accounts are found by our external id (`atcs-<user id>`), which each backend stores where its
panel keeps a unique name (Outline: the key id; Remnawave: the username; Marzban: the username
`atcs_<user id>`, its charset having no hyphen; 3x-ui: the client's email). That is what lets a
retry after a timeout find the account the first attempt made instead of making a second.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True)
class AccessSpec:
    """What the panel account should grant: read from the user's subscriptions row."""
    expires_at: datetime
    traffic_limit_bytes: int          # 0 = unlimited
    device_limit: int = 0             # devices at once, 0 = unlimited; where the panel can limit them


@dataclass(frozen=True)
class PanelAccount:
    panel_id: str                     # the panel's own id (Outline key id, Remnawave numeric id, Marzban username,
                                      # 3x-ui client email)
    external_id: str
    access_key: str = field(repr=False)   # a secret: never in a repr, a log line or an error
    expires_at: datetime | None       # None where the panel has no expiry (Outline)
    traffic_limit_bytes: int          # 0 = unlimited
    enabled: bool
    used_bytes: int | None = None
    device_limit: int | None = None   # as the panel holds it; None where it has no device limit


@dataclass(frozen=True)
class PanelHealth:
    ok: bool
    detail: str = ""
    accounts: int | None = None       # accounts on the panel, where it says cheaply
    refused: bool = False             # it answers but must not be used until an operator acts (PanelRefused)
    version: str | None = None        # the panel's version, as it reports it


@dataclass(frozen=True)
class Capabilities:
    enforces_expiry: bool             # the panel cuts access at expiry itself
    can_disable: bool                 # an account can be switched off and on again, keeping its key
    # The traffic limit is held against a counter the panel never resets: a traffic package bought
    # stays bought (common/contract/vpn_gateway.py: LASTING_TRAFFIC_LIMIT names the same panels).
    lasting_traffic_limit: bool = False
    device_limit: bool = False        # the panel limits how many devices use an account at once
    device_list: bool = False         # it lists those devices, and one can be removed


@dataclass(frozen=True)
class Device:
    """A device the panel has seen use an account (Remnawave: by the HWID its app sends)."""
    device_id: str                    # the panel's id of it (the HWID)
    platform: str | None
    model: str | None
    os_version: str | None
    first_seen: datetime | None
    last_seen: datetime | None


class PanelError(Exception):
    """A panel call failed. Messages name server, route and status, never URLs, tokens or keys."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PanelUnavailable(PanelError):
    """Network error, timeout, 5xx, or the server's breaker is open: try again later."""


class PanelRateLimited(PanelUnavailable):
    """429 with a Retry-After longer than is worth waiting inline."""


class PanelRejected(PanelError):
    """The panel refused the request (4xx): retrying soon will not help; admins should look."""


class PanelRefused(PanelError):
    """We refuse the panel until an operator acts: its TLS certificate is not the one we trust
    (not the pinned cert_sha256, or not verifiable by the system CAs), or its version is outside
    what the backend supports. Nothing is sent to it; its server is not ready."""


class AccountExists(PanelError):
    """Create found the external id taken: an earlier attempt made the account."""


class NotSupported(PanelError):
    pass


class PanelBackend(ABC):
    kind: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    @abstractmethod
    async def find(self, external_id: str) -> PanelAccount | None:
        """The account with this external id, or None."""

    @abstractmethod
    async def create(self, external_id: str, spec: AccessSpec) -> PanelAccount:
        """Make the account; raises AccountExists when the external id is taken."""

    @abstractmethod
    async def update(self, account: PanelAccount, *, expires_at: datetime | None = None,
                     traffic_limit_bytes: int | None = None, enabled: bool | None = None,
                     device_limit: int | None = None) -> PanelAccount:
        """Change what is given (None = leave as is; device_limit only where capabilities.device_limit);
        returns the account as it is now."""

    async def set_expiry(self, account: PanelAccount, expires_at: datetime) -> PanelAccount:
        return await self.update(account, expires_at=expires_at)

    async def set_traffic_limit(self, account: PanelAccount, traffic_limit_bytes: int) -> PanelAccount:
        return await self.update(account, traffic_limit_bytes=traffic_limit_bytes)

    async def keep_key(self, account: PanelAccount, known_key: str | None) -> PanelAccount:
        """The account carrying `known_key` (the key we hold) when that key still grants it.
        Where a panel prints the same key on every read (Outline, Remnawave) there is nothing to
        do; Marzban prints a new, equally valid subscription URL on every read, so without this
        every read would look like a rotated key."""
        return account

    async def devices(self, account: PanelAccount) -> list[Device]:
        """The devices the panel has seen use the account (capabilities.device_list)."""
        raise NotSupported(f"{self.kind} panels do not list devices")

    async def remove_device(self, account: PanelAccount, device_id: str) -> bool:
        """Forgets one device, freeing its place under the limit; False when the panel did not know it."""
        raise NotSupported(f"{self.kind} panels do not list devices")

    @abstractmethod
    async def revoke(self, account: PanelAccount) -> None:
        """Delete the account; one already gone counts as deleted."""

    @abstractmethod
    async def reissue(self, account: PanelAccount) -> PanelAccount:
        """Rotate the key: the old one stops working, the returned account carries the new one."""

    @abstractmethod
    async def usage(self, account: PanelAccount) -> int | None:
        """Bytes used, as the panel counts them."""

    @abstractmethod
    async def health(self) -> PanelHealth:
        """A cheap authenticated call: does the panel answer?"""

    @abstractmethod
    async def close(self) -> None:
        ...
