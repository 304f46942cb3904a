"""SQL of vpn_accounts (where a user's panel account and key live) and the subscription reads
the gateway makes to know what an account should grant."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from common.shop.traffic import panel_limit


@dataclass(frozen=True)
class Subscription:
    user_id: int
    expires_at: datetime
    traffic_limit_bytes: int          # the plan's allowance
    is_trial: bool
    status: str
    updated_at: datetime
    device_limit: int = 0             # devices at once, 0 = no limit
    frozen_at: datetime | None = None  # paused (common/shop/freeze.py): grants nothing until unfrozen
    extra_traffic_bytes: int = 0      # bought in packages (common/shop/traffic.py)

    @property
    def panel_limit(self) -> int:
        """What the panel account should hold: the allowance plus the packages (0 = unlimited)."""
        return panel_limit(self.traffic_limit_bytes, self.extra_traffic_bytes)

    def grants_access(self, now: datetime) -> bool:
        return self.status == "active" and self.frozen_at is None and self.expires_at > now


@dataclass(frozen=True)
class Account:
    user_id: int
    server: str
    backend: str
    external_id: str
    panel_id: str | None
    access_key: str | None = field(repr=False)
    expires_at: datetime | None
    traffic_limit_bytes: int
    status: str
    used_bytes: int | None
    used_checked_at: datetime | None

    @property
    def deleted(self) -> bool:
        """Revoked and gone from the panel: the user may be placed on any server again."""
        return self.status == "revoked" and self.panel_id is None


def external_id_for(user_id: int) -> str:
    return f"atcs-{user_id}"


async def get_subscription(conn: asyncpg.Connection, user_id: int) -> Subscription | None:
    row = await conn.fetchrow(
        """SELECT user_id, expires_at, traffic_limit_bytes, is_trial, status, updated_at, extra_traffic_bytes,
                  device_limit, frozen_at
           FROM subscriptions WHERE user_id = $1""", user_id)
    return Subscription(**dict(row)) if row else None


_ACCOUNT_COLUMNS = """user_id, server, backend, external_id, panel_id, access_key, expires_at,
                      traffic_limit_bytes, status, used_bytes, used_checked_at"""


async def get_account(conn: asyncpg.Connection, user_id: int) -> Account | None:
    row = await conn.fetchrow(f"SELECT {_ACCOUNT_COLUMNS} FROM vpn_accounts WHERE user_id = $1", user_id)
    return Account(**dict(row)) if row else None


async def server_loads(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT server, count(*) AS n FROM vpn_accounts WHERE status = 'active' GROUP BY server")
    return {r["server"]: r["n"] for r in rows}


async def assign(conn: asyncpg.Connection, user_id: int, server: str, backend: str) -> Account:
    """Records which server the user's account is (to be) made on, before the panel is called:
    a retry after a crash then goes to the same server and finds what the first attempt made.
    A user already placed keeps their server (the row is returned as it is)."""
    await conn.execute(
        """INSERT INTO vpn_accounts (user_id, server, backend, external_id, status)
           VALUES ($1, $2, $3, $4, 'active')
           ON CONFLICT (user_id) DO NOTHING""", user_id, server, backend, external_id_for(user_id))
    account = await get_account(conn, user_id)
    assert account is not None
    return account


async def move(conn: asyncpg.Connection, user_id: int, server: str, backend: str) -> Account | None:
    """Places a user whose account was deleted from its panel on another server."""
    row = await conn.fetchrow(
        f"""UPDATE vpn_accounts SET server = $2, backend = $3, status = 'active', updated_at = now()
            WHERE user_id = $1 AND status = 'revoked' AND panel_id IS NULL
            RETURNING {_ACCOUNT_COLUMNS}""", user_id, server, backend)
    return Account(**dict(row)) if row else None


async def save_active(conn: asyncpg.Connection, user_id: int, *, panel_id: str, access_key: str,
                      expires_at: datetime, traffic_limit_bytes: int) -> None:
    await conn.execute(
        """UPDATE vpn_accounts
           SET panel_id = $2, access_key = $3, expires_at = $4, traffic_limit_bytes = $5,
               status = 'active', updated_at = now()
           WHERE user_id = $1""", user_id, panel_id, access_key, expires_at, traffic_limit_bytes)


async def save_revoked(conn: asyncpg.Connection, user_id: int, *, panel_id: str | None) -> None:
    """The key is dropped either way (nobody is shown a dead key); panel_id stays when the panel
    account still exists, disabled, so renewal switches it on again on the same server."""
    await conn.execute(
        """UPDATE vpn_accounts SET status = 'revoked', access_key = NULL, panel_id = $2, updated_at = now()
           WHERE user_id = $1""", user_id, panel_id)


async def save_usage(conn: asyncpg.Connection, user_id: int, used_bytes: int) -> None:
    await conn.execute(
        "UPDATE vpn_accounts SET used_bytes = $2, used_checked_at = now() WHERE user_id = $1",
        user_id, used_bytes)


async def user_exists(conn: asyncpg.Connection, user_id: int) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", user_id)


async def revoke_subscription(conn: asyncpg.Connection, user_id: int) -> None:
    """An admin's revoke ends the subscription too, so no later renewal row brings the key back
    unless someone grants access again."""
    await conn.execute(
        "UPDATE subscriptions SET status = 'revoked', updated_at = now() WHERE user_id = $1 AND status = 'active'",
        user_id)
