"""One user as an admin sees them: lookup by id or @username, the card, purchases, ban."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from services.bot.typed import positive_id


async def find(conn: asyncpg.Connection, query: str) -> int | None:
    """A Telegram user id, or a @username (case-insensitive; the most recently seen on a tie)."""
    query = query.strip()
    user_id = positive_id(query)
    if user_id is not None:
        return await conn.fetchval("SELECT id FROM users WHERE id = $1", user_id)
    name = query.removeprefix("@")
    if not name:
        return None
    return await conn.fetchval(
        "SELECT id FROM users WHERE lower(username) = lower($1) ORDER BY last_seen_at DESC LIMIT 1", name)


@dataclass(frozen=True)
class UserCard:
    id: int
    username: str | None
    first_name: str
    language: str
    is_banned: bool
    blocked_bot: bool
    balance: Decimal
    created_at: datetime
    last_seen_at: datetime
    trial_used_at: datetime | None
    expires_at: datetime | None
    sub_status: str | None
    is_trial: bool | None
    key_status: str | None
    server: str | None
    paid_count: int
    last_paid_at: datetime | None


async def card(conn: asyncpg.Connection, user_id: int) -> UserCard | None:
    row = await conn.fetchrow(
        """SELECT u.id, u.username, u.first_name, u.language, u.is_banned, u.blocked_bot, u.balance,
                  u.created_at, u.last_seen_at, u.trial_used_at,
                  s.expires_at, s.status AS sub_status, s.is_trial,
                  a.status AS key_status, a.server,
                  (SELECT count(*) FROM purchases p WHERE p.user_id = u.id AND p.status = 'paid') AS paid_count,
                  (SELECT max(p.paid_at) FROM purchases p WHERE p.user_id = u.id AND p.status = 'paid') AS last_paid_at
           FROM users u
           LEFT JOIN subscriptions s ON s.user_id = u.id
           LEFT JOIN vpn_accounts a ON a.user_id = u.id
           WHERE u.id = $1""",
        user_id)
    return UserCard(**dict(row)) if row else None


@dataclass(frozen=True)
class PurchaseRow:
    id: int
    kind: str
    method: str
    amount: Decimal
    currency: str
    status: str
    created_at: datetime
    paid_at: datetime | None
    days: int | None
    gift_state: str | None = None      # a gift's: ready | redeemed | refunded
    recurring: bool = False            # a charge of a Telegram Stars subscription
    refund_source: str | None = None   # payment_refunds.source: admin | refunded_payment | star_transactions

    @property
    def refundable(self) -> bool:
        # What payments' REFUND accepts: a paid Crypto Bot or Stars purchase (a gift while nobody has it).
        return self.status == "paid" and self.method in ("cryptobot", "stars") and self.gift_state in (None, "ready")


async def purchases(conn: asyncpg.Connection, user_id: int, limit: int = 10) -> list[PurchaseRow]:
    rows = await conn.fetch(
        """SELECT p.id, p.kind, p.method, p.amount, p.currency, p.status, p.created_at, p.paid_at,
                  coalesce(p.days, pl.days) AS days, g.state AS gift_state,
                  p.recurring, r.source AS refund_source
           FROM purchases p LEFT JOIN plans pl ON pl.id = p.plan_id LEFT JOIN gifts g ON g.purchase_id = p.id
                LEFT JOIN payment_refunds r ON r.purchase_id = p.id
           WHERE p.user_id = $1 AND p.status IN ('paid', 'refunded', 'flagged')
           ORDER BY p.created_at DESC LIMIT $2""",
        user_id, limit)
    return [PurchaseRow(**dict(r)) for r in rows]


async def purchase_of(conn: asyncpg.Connection, user_id: int, purchase_id: int) -> PurchaseRow | None:
    row = await conn.fetchrow(
        """SELECT p.id, p.kind, p.method, p.amount, p.currency, p.status, p.created_at, p.paid_at,
                  coalesce(p.days, pl.days) AS days, g.state AS gift_state,
                  p.recurring, r.source AS refund_source
           FROM purchases p LEFT JOIN plans pl ON pl.id = p.plan_id LEFT JOIN gifts g ON g.purchase_id = p.id
                LEFT JOIN payment_refunds r ON r.purchase_id = p.id
           WHERE p.id = $1 AND p.user_id = $2""",
        purchase_id, user_id)
    return PurchaseRow(**dict(row)) if row else None


async def set_banned(conn: asyncpg.Connection, user_id: int, banned: bool) -> bool:
    """True when this changed the flag (False: it already was so, or no such user)."""
    changed = await conn.fetchval(
        "UPDATE users SET is_banned = $2 WHERE id = $1 AND is_banned <> $2 RETURNING id", user_id, banned)
    return changed is not None


async def exists(conn: asyncpg.Connection, user_id: int) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", user_id)


async def lock_key(conn: asyncpg.Connection, key: str) -> None:
    """Serialises transactions working on the same idempotency key (until commit)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)


async def activation_exists(conn: asyncpg.Connection, key: str) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM activations WHERE idempotency_key = $1)", key)


async def active_keys(conn: asyncpg.Connection) -> int:
    """Users a bulk reissue would touch (vpn_gateway fixes the exact list when the job starts)."""
    return await conn.fetchval(
        """SELECT count(*) FROM subscriptions s JOIN vpn_accounts v ON v.user_id = s.user_id
           WHERE s.status = 'active' AND s.expires_at > now() AND v.status = 'active'""")
