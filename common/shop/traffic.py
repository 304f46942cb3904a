"""Traffic packages (issue 12.3): bought bytes on top of a plan's allowance.

`subscriptions.traffic_limit_bytes` is the plan's allowance (every grant and plan change sets
it); `extra_traffic_bytes` is what packages added, and only they change it. The panel's limit is
their sum, held against the account's running counter, which no panel resets (Remnawave's
NO_RESET, Marzban's no_reset, 3x-ui's reset 0): a renewal sets the allowance again and leaves
the extra bytes alone, so what was bought and not used is still there. Payments adds a package
in the settling transaction; vpn_gateway's activation worker makes the panel match, and the bot
shows the same sum.
"""
from __future__ import annotations

import asyncpg

from common.contract.outbox import Activation
from common.shop.outbox import enqueue_activation


def panel_limit(allowance: int, extra: int) -> int:
    """The limit the panel holds: 0 (unlimited) stays unlimited, whatever was bought."""
    return 0 if allowance <= 0 else allowance + max(extra, 0)


async def add_package(conn: asyncpg.Connection, user_id: int, package_bytes: int, *, key: str) -> int | None:
    """Adds the bytes and queues the activation (`key`, unique per package) that raises the
    panel's limit; returns the new panel limit, or None when the user has no subscription row.
    The caller guarantees the package is credited once (its purchase moved to paid first)."""
    if package_bytes <= 0:
        raise ValueError("a package has a positive number of bytes")
    row = await conn.fetchrow(
        """UPDATE subscriptions SET extra_traffic_bytes = extra_traffic_bytes + $2, updated_at = now()
           WHERE user_id = $1 RETURNING traffic_limit_bytes, extra_traffic_bytes""",
        user_id, package_bytes)
    if row is None:
        return None
    await enqueue_activation(conn, user_id, Activation.SET_LIMIT, key, {"reason": "traffic", "bytes": package_bytes})
    return panel_limit(row["traffic_limit_bytes"], row["extra_traffic_bytes"])


async def can_buy(conn: asyncpg.Connection, user_id: int, backends: frozenset[str]) -> bool:
    """A package is sold to a user whose subscription is active and limited, on a panel whose limit
    lasts (`backends`: common.contract.vpn_gateway.LASTING_TRAFFIC_LIMIT)."""
    return bool(await conn.fetchval(
        """SELECT true FROM subscriptions s JOIN vpn_accounts a ON a.user_id = s.user_id
           WHERE s.user_id = $1 AND s.status = 'active' AND s.expires_at > now()
             AND s.traffic_limit_bytes > 0 AND a.status = 'active' AND a.backend = ANY($2::text[])""",
        user_id, list(backends)))
