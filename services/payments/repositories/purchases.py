"""Purchases: the pending invoice, its settlement (compare-and-set on status), expiry, refund."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

_COLUMNS = """id, user_id, plan_id, kind, method, amount, currency, status, provider_invoice_id,
              provider_charge_id, invoice_url, days, traffic_limit_bytes, request_id, created_at,
              expires_at, paid_at, promo_code_id, list_amount, traffic_package, recurring, renewal_of"""

_SETTLING = ", ".join(f"p.{c.strip()}" for c in _COLUMNS.split(",")) + ", pl.code AS plan_code, u.referred_by"

# Statuses a payment may still settle from. An invoice we expired can still be paid at the
# provider in its last second (or a Stars pre-checkout approved just before expiry completes
# after it), and a createInvoice that timed out may have made an invoice after all: that money is
# real and must be credited, not lost.
SETTLEABLE = ("pending", "expired", "failed")


@dataclass(frozen=True)
class Purchase:
    id: int
    user_id: int
    plan_id: int | None
    kind: str
    method: str
    amount: Decimal
    currency: str
    status: str
    provider_invoice_id: str | None
    provider_charge_id: str | None
    invoice_url: str | None
    days: int | None
    traffic_limit_bytes: int | None
    request_id: str | None
    created_at: datetime
    expires_at: datetime | None
    paid_at: datetime | None
    promo_code_id: int | None = None      # the promo code it carries (held while pending, spent when paid)
    list_amount: Decimal | None = None    # the plan's price before the code's discount
    traffic_package: str | None = None    # kind 'traffic': the ATCS_TRAFFIC_PACKAGES id (its bytes: traffic_limit_bytes)
    recurring: bool = False               # a Stars subscription's purchase (the first charge or a renewal)
    renewal_of: int | None = None         # a renewal: the subscription's first purchase
    # Read along with the row lock when settling, to spare two round trips per payment.
    plan_code: str | None = None
    referred_by: int | None = None

    @classmethod
    def of(cls, row: asyncpg.Record | None) -> "Purchase | None":
        return None if row is None else cls(**dict(row))

    @property
    def settleable(self) -> bool:
        return self.status in SETTLEABLE


async def insert_pending(conn: asyncpg.Connection, *, user_id: int, plan_id: int | None, kind: str, method: str,
                         amount: Decimal, currency: str, request_id: str, days: int | None,
                         traffic_limit_bytes: int | None, ttl_seconds: int, promo_code_id: int | None = None,
                         list_amount: Decimal | None = None, traffic_package: str | None = None,
                         recurring: bool = False) -> Purchase | None:
    """The new pending purchase, or None when this user already made one with this request_id."""
    row = await conn.fetchrow(
        f"""INSERT INTO purchases (user_id, plan_id, kind, method, amount, currency, request_id, days,
                                   traffic_limit_bytes, expires_at, promo_code_id, list_amount, traffic_package,
                                   recurring)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10), $11, $12, $13, $14)
            ON CONFLICT (user_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
            RETURNING {_COLUMNS}""",
        user_id, plan_id, kind, method, amount, currency, request_id, days, traffic_limit_bytes, float(ttl_seconds),
        promo_code_id, list_amount, traffic_package, recurring)
    return Purchase.of(row)


async def open_renewal(conn: asyncpg.Connection, first: Purchase, charge_id: str) -> int:
    """The purchase a renewal charge of a Stars subscription pays for: a copy of the first
    purchase (same user, plan, days, price; no promo code), one per charge id (its request_id),
    made pending so that settlement moves it to paid like any other."""
    request_id = f"renewal:{charge_id}"[:128]
    made = await conn.fetchval(
        """INSERT INTO purchases (user_id, plan_id, kind, method, amount, currency, request_id, days,
                                  traffic_limit_bytes, recurring, renewal_of)
           SELECT user_id, plan_id, 'subscription', 'stars', amount, currency, $2, days, traffic_limit_bytes,
                  true, $1
           FROM purchases WHERE id = $1
           ON CONFLICT (user_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
           RETURNING id""",
        first.id, request_id)
    if made is not None:
        return made
    return await conn.fetchval("SELECT id FROM purchases WHERE user_id = $1 AND request_id = $2",
                               first.user_id, request_id)


async def by_charge(conn: asyncpg.Connection, charge_id: str) -> Purchase | None:
    """The Stars purchase a charge paid for (whichever path settled it)."""
    return Purchase.of(await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM purchases WHERE method = 'stars' AND provider_charge_id = $1""", charge_id))


async def by_request(conn: asyncpg.Connection, user_id: int, request_id: str) -> Purchase | None:
    return Purchase.of(await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM purchases WHERE user_id = $1 AND request_id = $2", user_id, request_id))


async def get(conn: asyncpg.Connection, purchase_id: int) -> Purchase | None:
    return Purchase.of(await conn.fetchrow(f"SELECT {_COLUMNS} FROM purchases WHERE id = $1", purchase_id))


async def lock(conn: asyncpg.Connection, purchase_id: int) -> Purchase | None:
    return Purchase.of(await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM purchases WHERE id = $1 FOR UPDATE", purchase_id))


async def attach_invoice(conn: asyncpg.Connection, purchase_id: int, invoice_id: str, url: str | None) -> bool:
    """Stores the provider's invoice once; False if another attempt stored one first."""
    done = await conn.fetchval(
        """UPDATE purchases SET provider_invoice_id = $2, invoice_url = $3
           WHERE id = $1 AND provider_invoice_id IS NULL RETURNING id""",
        purchase_id, invoice_id, url)
    return done is not None


async def lock_for_invoice(conn: asyncpg.Connection, invoice_id: str, hint: int | None) -> Purchase | None:
    """The Crypto Bot purchase a paid invoice belongs to, row-locked.

    By invoice id first; by the purchase id carried in the invoice payload when the id was not
    stored yet (the user paid before create_invoice finished writing it, or it crashed there)."""
    return Purchase.of(await conn.fetchrow(
        f"""SELECT {_SETTLING} FROM purchases p JOIN users u ON u.id = p.user_id LEFT JOIN plans pl ON pl.id = p.plan_id
            WHERE p.method = 'cryptobot' AND (p.provider_invoice_id = $1 OR p.id = $2)
            ORDER BY (p.provider_invoice_id IS NOT DISTINCT FROM $1) DESC
            LIMIT 1 FOR UPDATE OF p""",
        invoice_id, hint))


async def lock_for_invoices(conn: asyncpg.Connection, wanted: list[tuple[str, int | None]]) -> list[Purchase | None]:
    """`lock_for_invoice` for several (invoice id, purchase hint) in one statement, locked in the order
    given (callers sort, so that two batches lock in one order); the purchases in that order."""
    if not wanted:
        return []
    rows = await conn.fetch(
        f"""SELECT x.n AS wanted_n, s.* FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS x(ref, hint, n)
            CROSS JOIN LATERAL (
                SELECT {_SETTLING} FROM purchases p JOIN users u ON u.id = p.user_id
                LEFT JOIN plans pl ON pl.id = p.plan_id
                WHERE p.method = 'cryptobot' AND (p.provider_invoice_id = x.ref OR p.id = x.hint)
                ORDER BY (p.provider_invoice_id IS NOT DISTINCT FROM x.ref) DESC
                LIMIT 1 FOR UPDATE OF p) s
            ORDER BY x.n""",
        [ref for ref, _ in wanted], [hint for _, hint in wanted])
    found: list[Purchase | None] = [None] * len(wanted)
    for row in rows:
        values = dict(row)
        position = values.pop("wanted_n") - 1
        found[position] = Purchase(**values)
    return found


async def lock_stars(conn: asyncpg.Connection, purchase_id: int | None) -> Purchase | None:
    if purchase_id is None:
        return None
    return Purchase.of(await conn.fetchrow(
        f"""SELECT {_SETTLING} FROM purchases p JOIN users u ON u.id = p.user_id LEFT JOIN plans pl ON pl.id = p.plan_id
            WHERE p.id = $1 AND p.method = 'stars' FOR UPDATE OF p""", purchase_id))


async def lock_settling(conn: asyncpg.Connection, purchase_id: int) -> Purchase | None:
    """Any purchase by id, row-locked, with what settling it reads (plan code, referrer)."""
    return Purchase.of(await conn.fetchrow(
        f"""SELECT {_SETTLING} FROM purchases p JOIN users u ON u.id = p.user_id LEFT JOIN plans pl ON pl.id = p.plan_id
            WHERE p.id = $1 FOR UPDATE OF p""", purchase_id))


async def mark_flagged(conn: asyncpg.Connection, purchase_id: int, reason: str,
                       paid_asset: str | None, paid_amount: Decimal | None) -> bool:
    done = await conn.fetchval(
        """UPDATE purchases SET status = 'flagged', flag_reason = $2, paid_asset = $3, paid_amount = $4
           WHERE id = $1 AND status = ANY($5::text[]) RETURNING id""",
        purchase_id, reason[:500], paid_asset, paid_amount, list(SETTLEABLE))
    return done is not None


async def mark_given(conn: asyncpg.Connection, purchase_id: int) -> bool:
    """A free purchase (a promo code that makes the plan cost nothing) is paid as it is made."""
    done = await conn.fetchval(
        """UPDATE purchases SET status = 'paid', paid_at = now(), settled_via = 'promo'
           WHERE id = $1 AND status = 'pending' AND amount = 0 RETURNING id""",
        purchase_id)
    return done is not None


async def mark_paid_from_balance(conn: asyncpg.Connection, purchase_id: int) -> bool:
    """A purchase paid by the balance (its ledger debit in the same transaction) is paid as it is made."""
    done = await conn.fetchval(
        """UPDATE purchases SET status = 'paid', paid_at = now(), settled_via = 'balance'
           WHERE id = $1 AND status = 'pending' AND method = 'balance' RETURNING id""",
        purchase_id)
    return done is not None


async def mark_refunded(conn: asyncpg.Connection, purchase_id: int) -> bool:
    done = await conn.fetchval(
        "UPDATE purchases SET status = 'refunded', refunded_at = now() WHERE id = $1 AND status = 'paid' RETURNING id",
        purchase_id)
    return done is not None


async def expire(conn: asyncpg.Connection, purchase_id: int) -> bool:
    done = await conn.fetchval(
        "UPDATE purchases SET status = 'expired' WHERE id = $1 AND status = 'pending' RETURNING id", purchase_id)
    return done is not None


async def fail_without_invoice(conn: asyncpg.Connection, purchase_id: int) -> bool:
    """Closes a pending purchase whose invoice could not be created (the user was told to try again)."""
    done = await conn.fetchval(
        """UPDATE purchases SET status = 'failed'
           WHERE id = $1 AND status = 'pending' AND provider_invoice_id IS NULL RETURNING id""",
        purchase_id)
    return done is not None


async def reopen_failed(conn: asyncpg.Connection, purchase_id: int, ttl_seconds: int) -> Purchase | None:
    """"Try again" of a failed purchase: pending again, with a fresh ttl; None if it is not failed."""
    return Purchase.of(await conn.fetchrow(
        f"""UPDATE purchases SET status = 'pending', expires_at = now() + make_interval(secs => $2)
            WHERE id = $1 AND status = 'failed' AND provider_invoice_id IS NULL
            RETURNING {_COLUMNS}""",
        purchase_id, float(ttl_seconds)))


async def open_invoices(conn: asyncpg.Connection, after_id: int, limit: int) -> list[Purchase]:
    """Pending Crypto Bot purchases that have a provider invoice, in id order (keyset pages)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM purchases
            WHERE method = 'cryptobot' AND status = 'pending' AND provider_invoice_id IS NOT NULL AND id > $1
            ORDER BY id LIMIT $2""",
        after_id, limit)
    return [Purchase(**dict(r)) for r in rows]


async def expire_without_invoice(conn: asyncpg.Connection, older_than_seconds: float) -> int:
    """Pending Crypto Bot purchases whose invoice was never created (the provider failed or we
    crashed mid-call). Should an invoice exist after all and be paid, the payload still finds the
    purchase and settles it from 'expired'."""
    rows = await conn.fetch(
        """UPDATE purchases SET status = 'expired'
           WHERE method = 'cryptobot' AND status = 'pending' AND provider_invoice_id IS NULL
             AND created_at < now() - make_interval(secs => $1)
           RETURNING id""",
        older_than_seconds)
    return len(rows)


async def expire_stale_stars(conn: asyncpg.Connection, grace_seconds: float) -> int:
    rows = await conn.fetch(
        """UPDATE purchases SET status = 'expired'
           WHERE method = 'stars' AND status = 'pending'
             AND expires_at < now() - make_interval(secs => $1)
           RETURNING id""",
        grace_seconds)
    return len(rows)


async def pending_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM purchases WHERE status = 'pending'")


async def db_now(conn: asyncpg.Connection) -> datetime:
    return await conn.fetchval("SELECT now()")
