"""The purchase an RPC names by id (a refund, a payment check), or NOT_FOUND."""
from __future__ import annotations

from common.contract.base import RpcErrorCode
from common.contract.payments import PurchaseRef
from common.db.database import Database
from common.ipc.errors import RpcError
from services.payments.repositories import purchases
from services.payments.repositories.purchases import Purchase

MAX_ID = 2**63  # bigint: larger ids cannot exist, and asyncpg would refuse to send them


async def named_purchase(db: Database, ref: PurchaseRef) -> Purchase:
    async with db.acquire() as conn:
        purchase = await purchases.get(conn, ref.purchase_id) if 0 < ref.purchase_id < MAX_ID else None
    if purchase is None:
        raise RpcError(RpcErrorCode.NOT_FOUND, f"no purchase {ref.purchase_id}")
    return purchase
