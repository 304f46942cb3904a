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
from services.payments.repositories.purchases import Purchase


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

    A purchase that was pending held its use: only the counts are judged (a second payment of a
    once-per-user code, another purchase that became the first). A late payment of an expired
    invoice gave its hold back: it is judged afresh, as a new purchase would be."""
    assert purchase.promo_code_id is not None
    promo = await promos.lock(conn, purchase.promo_code_id)
    if promo is None:
        return "its promo code no longer exists"
    held = purchase.status == "pending"
    refusal = await promos.judge(conn, promo, purchase.user_id, purchase.plan_id, purchase_id=purchase.id, held=held)
    if refusal is None:
        return None
    return f"promo code {promo.code}: {refusal.value}" + ("" if held else " (paid after its invoice expired)")
