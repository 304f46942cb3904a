"""Promo codes on payments' side: the hold an invoice takes, and the judgement at settlement.

An invoice's purchase holds a use while it is pending (common/shop/promos.py counts holds). At
settlement the use is spent if the code still has it for this purchase: always so for a purchase
that was pending (its hold was counted), maybe not for a late payment of an expired one (its hold
was given back, and someone else may have taken the use). A code that cannot be spent makes the
payment flagged, never credited twice at a discount, never dropped.
"""
from __future__ import annotations

import asyncpg

from common.contract.base import RpcErrorCode
from common.contract.payments import PROMO_REFUSED
from common.ipc.errors import RpcError
from common.shop import promos
from common.shop.promos import Promo, Refusal
from services.payments.repository.purchases import Purchase


def refused(refusal: Refusal) -> RpcError:
    return RpcError(RpcErrorCode.CONFLICT, PROMO_REFUSED + refusal.value)


async def named_promo(conn: asyncpg.Connection, text: str) -> Promo:
    code = promos.normalize(text)
    promo = await promos.find(conn, code) if code else None
    if promo is None:
        raise refused(Refusal.UNKNOWN)
    return promo


async def hold(conn: asyncpg.Connection, code_id: int, purchase: Purchase) -> None:
    """Judges the code for this pending purchase under the code's lock (held until commit);
    raises the refusal (the caller's transaction is then rolled back)."""
    promo = await promos.lock(conn, code_id)
    if promo is None:
        raise refused(Refusal.UNKNOWN)
    refusal = await promos.judge(conn, promo, purchase.user_id, purchase.plan_id, purchase_id=purchase.id)
    if refusal is not None:
        raise refused(refusal)


async def settlement_refusal(conn: asyncpg.Connection, purchase: Purchase) -> str | None:
    """Why this payment cannot spend its purchase's code (then it is flagged), or None. Takes the
    code's lock until the settlement commits, so the spend (`promos.spend`) finds it as judged.

    A purchase that was pending held its use: time limits and a disabled code no longer matter
    (the user was given that price). A late payment of an expired invoice is judged afresh."""
    assert purchase.promo_code_id is not None
    promo = await promos.lock(conn, purchase.promo_code_id)
    if promo is None:
        return "its promo code no longer exists"
    if purchase.status != "pending":
        refusal = await promos.judge(conn, promo, purchase.user_id, purchase.plan_id, purchase_id=purchase.id)
        return None if refusal is None else f"promo code {promo.code}: {refusal.value} (paid after its invoice expired)"
    if promo.first_purchase_only and await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM purchases WHERE user_id = $1 AND kind IN ('subscription', 'gift')
                              AND status IN ('paid', 'refunded') AND id <> $2)""",
            purchase.user_id, purchase.id):
        return f"promo code {promo.code}: first purchase only, and another purchase was paid first"
    if promo.once_per_user and await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM promo_uses WHERE code_id = $1 AND user_id = $2)", promo.id,
            purchase.user_id):
        return f"promo code {promo.code}: once per user, and another purchase of this user spent it"
    if promo.max_uses is not None and await promos.taken(conn, promo.id, purchase.user_id) >= promo.max_uses:
        # Cannot happen while holds are judged under the lock; kept as the last guard of the count.
        return f"promo code {promo.code}: used up"
    return None
