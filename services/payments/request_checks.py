"""The checks every purchase request of a user makes before anything is written: ids in range, a
usable request_id, a customer who exists and is not banned. (CreateInvoice, CLAIM_FREE_PLAN,
CHANGE_PLAN and BUY_TRAFFIC share them.)"""
from __future__ import annotations

import asyncpg

from common.contract.base import INT4_MAX, RpcErrorCode
from common.ipc.errors import RpcError
from services.payments.purchase_ref import MAX_ID
from services.payments.repositories import shop
from services.payments.repositories.shop import Customer


def check_request(user_id: int, request_id: str, *, plan_id: int | None = None) -> None:
    """Refuses ids no row can have (asyncpg would refuse to send them) and a malformed request_id."""
    if not (0 < user_id < MAX_ID and (plan_id is None or 0 < plan_id <= INT4_MAX)):
        raise RpcError(RpcErrorCode.NOT_FOUND, "no such user or plan")
    if not 1 <= len(request_id) <= 128 or "\x00" in request_id:
        raise RpcError(RpcErrorCode.BAD_REQUEST, "request_id must be 1..128 characters")


async def allowed_customer(conn: asyncpg.Connection, user_id: int) -> Customer:
    """The buyer, or NOT_FOUND / FORBIDDEN (banned)."""
    customer = await shop.customer(conn, user_id)
    if customer is None:
        raise RpcError(RpcErrorCode.NOT_FOUND, f"no user {user_id}")
    if customer.is_banned:
        raise RpcError(RpcErrorCode.FORBIDDEN, "user is banned")
    return customer
